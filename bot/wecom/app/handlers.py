"""What a member sends the app, as the request every channel makes: a text (a command, an
invite's code, or free text) or a press on a card, each handled once (the text's MsgId, the
press's one-time code as the inbound's id) by the use case that answers it. Every answer goes
through the outbox; a press then queues its card's update (``pressed``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress

from bot.services.cases import lifecycle
from bot.services.digest import daily
from bot.services.intake import press as hot
from bot.services.staff import signin
from bot.services.talk import guided, messages, questions, replies, waiting
from bot.services.talk.drafts import CONFIRM, PREFIX
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from core.buttons import Button, decode
from core.cases import Action, Rating

from .cards import CHANNEL
from .pressed import Press, queue_update

UNKNOWN = messages.Answer("tg.unknown")
LANGUAGE_CHOICES = {"l:zh": "zh", "l:en": "en"}
LANGUAGE_BUTTONS = [[Button("中文", "l:zh", literal=True), Button("English", "l:en", literal=True)]]
# "/lang en" and its like: a language named at once.
_LANGUAGE_WORDS = {"zh": "zh", "中文": "zh", "cn": "zh", "en": "en", "english": "en"}
# A command as a member types it: "/open", "／open" (a Chinese keyboard's slash), "/case 12".
_COMMAND = re.compile(r"[/／]([A-Za-z]{1,16})(?:\s+(.*))?", re.DOTALL)
# An invite's code sent on its own (``invites.create_invite``: 16 random bytes, URL-safe).
_INVITE = re.compile(r"[A-Za-z0-9_-]{22}")
# Presses that ask for more before they act (a reason, a new manager, the note of the fix);
# a rating acts at once unless it is "not satisfied", which asks why.
ASKED_FIRST = frozenset({Action.REASSIGN, Action.REJECT, Action.CLOSE, Action.RESOLVE, Action.ASK})
RATED_AT_ONCE = ("1", "2")
Command = Callable[[Inbound, str], Awaitable[None]]


def press_id(press: Press) -> str:
    """The inbound id of a press: a digest of its one-time code (a replay carries the same)."""
    return "rc:" + hashlib.sha256(press.code.encode()).hexdigest()[:40]


class StaffGateway:
    """The app's handlers, bound to the services' context."""

    def __init__(
        self, ctx: ServiceContext, *, kick: Callable[[], None], console_url: str | None
    ) -> None:
        self._ctx, self._kick, self._console = ctx, kick, console_url
        self._commands: dict[str, Command] = {
            "start": self._start,
            "report": lambda i, _: guided.begin_report(self._ctx, i),
            "mycases": lambda i, _: replies.my_cases(self._ctx, i),
            "cancel": lambda i, _: waiting.abandon(self._ctx, i),
            "lang": self._lang,
            "help": lambda i, _: replies.help_for(self._ctx, i),
            "open": lambda i, _: replies.open_cases(self._ctx, i),
            "case": self._case,
            "digest": lambda i, _: daily.on_request(self._ctx, i),
            "web": lambda i, _: signin.console_link(self._ctx, i, base_url=self._console),
        }

    async def text(self, msg_id: str, userid: str, content: str) -> None:
        """A member's text: a command, an invite's code, or free text (the answer to the
        question in progress, if any)."""
        inbound = Inbound(CHANNEL, msg_id, address=userid)
        with suppress(AlreadyHandled, Limited, ServiceRefusal):  # answered, or a replay
            await self._text(inbound, content.strip())
        self._kick()

    async def press(self, press: Press) -> None:
        """A press on a card: the same path every channel's buttons take; then the card's
        update (also for a replay: the first try may have stopped before queueing it)."""
        inbound = Inbound(CHANNEL, press_id(press), address=press.userid)
        with suppress(AlreadyHandled, Limited, ServiceRefusal):  # answered, or a replay
            await take_press(self._ctx, inbound, press.key)
        await queue_update(self._ctx, press, key=f"press:{inbound.key}")
        self._kick()

    async def _text(self, inbound: Inbound, content: str) -> None:
        found = _COMMAND.fullmatch(content)
        if found is not None:
            handler = self._commands.get(found.group(1).lower(), self._help)
            await handler(inbound, (found.group(2) or "").strip())
        elif _INVITE.fullmatch(content):
            await replies.bind_invite(self._ctx, inbound, code=content)
        else:
            await messages.message(self._ctx, inbound, UNKNOWN, text=content)

    async def _help(self, inbound: Inbound, _: str) -> None:
        """A command we do not know: the help."""
        await replies.help_for(self._ctx, inbound)

    async def _start(self, inbound: Inbound, argument: str) -> None:
        """``/start`` — the welcome; ``/start <code>`` binds an invite."""
        if argument:
            await replies.bind_invite(self._ctx, inbound, code=argument.split()[0])
        else:
            await replies.welcome(self._ctx, inbound)

    async def _lang(self, inbound: Inbound, argument: str) -> None:
        """``/lang`` — choose 中文 or English (``/lang en`` at once)."""
        language = _LANGUAGE_WORDS.get(argument.lower())
        if language is not None:
            await replies.set_language(self._ctx, inbound, language=language)
        else:
            await replies.say(self._ctx, inbound, "tg.lang_choose", buttons=LANGUAGE_BUTTONS)

    async def _case(self, inbound: Inbound, argument: str) -> None:
        """``/case <n>`` — one case with the buttons its reader may press."""
        number = argument.lstrip("#＃")
        if not (number.isascii() and number.isdigit() and len(number) <= 12):
            await replies.say(self._ctx, inbound, "tg.case_usage")
            return
        await replies.show_case(self._ctx, inbound, number=int(number))


async def take_press(ctx: ServiceContext, inbound: Inbound, data: str) -> None:
    """A button's data, as every channel's press: the guided report's confirm (on the writer's
    hot path when it can be), a question's choice, a language, or a case's action — acting at
    once, or asking first for what it needs. Data no button of ours carries is answered so."""
    if data == CONFIRM:
        with suppress(hot.NotHot):  # nothing written: the general path below takes it
            await hot.confirm(ctx, inbound)
            return
    if data.startswith(PREFIX):
        await waiting.answer(ctx, inbound, choice=data)
        return
    if data in LANGUAGE_CHOICES:
        await replies.set_language(ctx, inbound, language=LANGUAGE_CHOICES[data])
        return
    case = decode(data)
    if case is None:
        await replies.say(ctx, inbound, "tg.stale")
        return
    rated = case.action is Action.RATE and case.arg in RATED_AT_ONCE
    if case.action in ASKED_FIRST or (case.action is Action.RATE and not rated):
        await questions.ask_before(ctx, inbound, number=case.number, action=case.action)
        return
    rating = Rating.from_code(case.arg or "") if rated else None
    request = lifecycle.Request(case.action, rating=rating)
    await lifecycle.act_on(ctx, inbound, number=case.number, request=request)
