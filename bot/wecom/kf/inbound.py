"""One message pulled from customer service, as the requests every channel makes: a resident's
text (a report, or the answer to the question in progress), a click on a menu item (a button
press: its id is the button's data), a command typed as on Telegram ("/report"), a picture (not
taken here: they are told so), a visit (the welcome).

A resident's address is their ``external_userid``: it fits every column an address goes in
(receipts keep 32 characters), and it is the same person whichever account they write to; the
account they last wrote to is kept with the reply window (``window``), and answers go from it.
Everything pulled is untrusted: bounded, its ids checked before they are used."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.services.cases import lifecycle
from bot.services.intake import press as intake
from bot.services.talk import guided, messages, questions, replies, waiting
from bot.services.talk.drafts import CONFIRM, PREFIX
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.receipts import handled_before
from core.buttons import Button, decode
from core.cases import Action, Rating

from . import window
from .sender import Welcomes

CUSTOMER, SYSTEM = 3, 4  # a message's origin: the resident, or WeCom's own event
MAX_TEXT = 4096
_USER = re.compile(r"[0-9A-Za-z_-]{1,32}")
_ACCOUNT = re.compile(r"[0-9A-Za-z_-]{1,64}")
_MSGID = re.compile(r"[0-9A-Za-z_@.:=+/-]{1,64}")
_CODE = re.compile(r"[0-9A-Za-z_-]{1,128}")
_MENU_ID = re.compile(r"[ -~]{1,64}")  # a button's data: printable ASCII (core.buttons)
_EVENT = re.compile(r"[a-z_]{1,64}")
LANGUAGES = [[Button("中文", "l:zh", literal=True), Button("English", "l:en", literal=True)]]
log = logging.getLogger(__name__)
# Presses that ask for more before they act (a reason, a note), as on every channel.
ASKED_FIRST = (Action.REASSIGN, Action.REJECT, Action.CLOSE, Action.RESOLVE, Action.ASK)


@dataclass(frozen=True, slots=True)
class Pulled:
    """A message of the stream, checked: who, on which account, what."""

    msgid: str
    open_kfid: str
    user: str
    origin: int
    kind: str
    text: str = ""
    menu_id: str = ""
    event: str = ""
    welcome_code: str = ""
    sent_at: datetime | None = None


def pulled(raw: dict[str, Any]) -> Pulled | None:
    """``raw`` as a message, or None when it is not one we can take (ids of no WeCom shape)."""
    event, text = _part(raw, "event"), _part(raw, "text")
    msgid = _shaped(raw.get("msgid"), _MSGID)
    user = _shaped(raw.get("external_userid") or event.get("external_userid"), _USER)
    account = _shaped(raw.get("open_kfid") or event.get("open_kfid"), _ACCOUNT)
    kind, origin = raw.get("msgtype"), raw.get("origin")
    if not (msgid and user and account and isinstance(kind, str)):
        return None
    content, sent = text.get("content"), raw.get("send_time")
    return Pulled(
        msgid=msgid,
        open_kfid=account,
        user=user,
        origin=origin if isinstance(origin, int) else 0,
        kind=kind[:32],
        text=content[:MAX_TEXT] if isinstance(content, str) else "",
        menu_id=_shaped(text.get("menu_id"), _MENU_ID),
        event=_shaped(event.get("event_type"), _EVENT),
        welcome_code=_shaped(event.get("welcome_code"), _CODE),
        sent_at=_moment(sent) if isinstance(sent, int) else None,
    )


def _part(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of the message ({} when it has none, or something else there)."""
    found = raw.get(name)
    return found if isinstance(found, dict) else {}


def _shaped(value: object, shape: re.Pattern[str]) -> str:
    """``value`` when it is a string of ``shape``, else ""."""
    return value if isinstance(value, str) and shape.fullmatch(value) else ""


def _moment(seconds: int) -> datetime | None:
    """A send_time as a moment, or None for one no clock has."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class KfInbound:
    """Hands pulled messages to the use cases."""

    def __init__(self, ctx: ServiceContext, welcomes: Welcomes) -> None:
        self._ctx, self._welcomes = ctx, welcomes

    async def __call__(self, raw: dict[str, Any]) -> None:
        """Handle one pulled message (a replay does nothing; a refusal is answered)."""
        message = pulled(raw)
        if message is None:  # said, not dropped quietly: an id of a shape WeCom never gave
            log.warning("a customer-service message with ids of no known shape was passed over")
            return
        ctx = self._ctx
        inbound = Inbound(window.CHANNEL, message.msgid, address=message.user)
        with suppress(AlreadyHandled, Limited, ServiceRefusal):
            if message.origin == SYSTEM and message.event == "enter_session":
                await self._visit(message, inbound)
            elif message.origin == CUSTOMER:
                if not await handled_before(ctx, inbound):  # read again: its window is spent
                    now = ctx.clock()
                    at = min(message.sent_at or now, now)
                    await window.record_inbound(ctx, message.open_kfid, message.user, at)
                await self._customer(message, inbound)

    async def _visit(self, message: Pulled, inbound: Inbound) -> None:
        """A resident opens the conversation: the welcome, when WeCom gave a code to send it
        with (it gives none to someone who wrote or was welcomed in the last 48 hours)."""
        if not message.welcome_code:
            return
        self._welcomes.offer(message.user, message.open_kfid, message.welcome_code)
        await replies.welcome(self._ctx, inbound)

    async def _customer(self, message: Pulled, inbound: Inbound) -> None:
        """What the resident sent."""
        ctx = self._ctx
        if message.kind != "text":
            await replies.say(ctx, inbound, "chat.text_only")
        elif message.menu_id:
            await press(ctx, inbound, message.menu_id)
        elif message.text.startswith("/"):
            await command(ctx, inbound, message.text)
        else:
            meaning = messages.Report(message.text)
            await messages.message(ctx, inbound, meaning, text=message.text)


async def press(ctx: ServiceContext, inbound: Inbound, data: str) -> None:
    """A click on a menu item: the button whose data is its id, authorized by the use case."""
    if data == CONFIRM:
        # The guided report filed by the writer; what it does not take goes the general path.
        with suppress(intake.NotHot):
            await intake.confirm(ctx, inbound)
            return
    if data.startswith(PREFIX):
        await waiting.answer(ctx, inbound, choice=data)
        return
    if data in ("l:zh", "l:en"):
        await replies.set_language(ctx, inbound, language=data[2:])
        return
    pressed = decode(data)
    if pressed is None:
        raise ServiceRefusal("tg.stale")
    rating = Rating.from_code(pressed.arg or "") if pressed.action is Action.RATE else None
    if pressed.action is Action.RATE and rating is not Rating.DISSATISFIED:
        request = lifecycle.Request(Action.RATE, rating=rating)
    elif pressed.action is Action.RATE or pressed.action in ASKED_FIRST:
        await questions.ask_before(ctx, inbound, number=pressed.number, action=pressed.action)
        return
    else:
        request = lifecycle.Request(pressed.action)
    await lifecycle.act_on(ctx, inbound, number=pressed.number, request=request)


Command = Callable[[ServiceContext, Inbound], Awaitable[Any]]
COMMANDS: dict[str, Command] = {
    "/start": replies.welcome,
    "/report": guided.begin_report,
    "/mycases": replies.my_cases,
    "/open": replies.open_cases,
    "/cancel": waiting.abandon,
    "/help": replies.help_for,
}


async def command(ctx: ServiceContext, inbound: Inbound, text: str) -> None:
    """A command typed as on Telegram; an unknown one gets the help."""
    name, _, rest = text.strip().partition(" ")
    name = name.lower()
    if name == "/lang":
        await replies.say(ctx, inbound, "tg.lang_choose", buttons=LANGUAGES)
    elif name == "/case":
        number = rest.strip().lstrip("#")
        if number.isascii() and number.isdigit() and len(number) <= 12:
            await replies.show_case(ctx, inbound, number=int(number))
        else:
            await replies.say(ctx, inbound, "tg.case_usage")
    else:
        await COMMANDS.get(name, replies.help_for)(ctx, inbound)
