"""Telegram handlers, thin: what the update asks for, as the request every channel makes, and
which use case answers it. The sender is resolved inside the use case's unit of work.

Every update is handled once (its ``update_id`` is recorded in the same transaction as its
effect); every answer goes through the outbox, and the dispatcher is woken when it is committed.
A button press is answered at once — with an alert when nothing could be done, and why — in
webhook mode in the webhook's own response (``answers.replying``), else by a Bot API call.
Answering a press is best-effort: an expired or already-answered query (a redelivered update
another instance handled) is logged quietly, never a failure of the update.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from telegram import Message, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.services.cases import lifecycle
from bot.services.digest import daily
from bot.services.intake import press as intake_telegram
from bot.services.staff import signin
from bot.services.talk import guided, messages, questions, replies, waiting
from bot.services.talk.drafts import CONFIRM, PREFIX
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.reach import localize
from core.buttons import Button, decode
from core.cases import Action, Rating
from core.texts import normalize_language, render

from .answers import answer_press

log = logging.getLogger(__name__)
CHANNEL = "telegram"
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
LANGUAGE_BUTTONS = [[Button("中文", "l:zh", literal=True), Button("English", "l:en", literal=True)]]
UNKNOWN = messages.Answer("tg.unknown")
# Presses that ask for more before they act: a reason, a new manager, the note of "已办好" (the
# category's replies; at once when it has none).
# A case as our messages name it ("#12"): ASCII digits only, as the callback codec reads them.
_CASE_MENTION = re.compile(r"#(\d{1,12})", re.ASCII)
ASKED_FIRST = (
    *(Action.RATE, Action.REASSIGN, Action.REJECT, Action.CLOSE, Action.RESOLVE),
    Action.ASK,  # what to ask the reporter
)
# Where ``/web`` sign-in links point (PUBLIC_URL), in the Application's bot_data; None: the
# console is off. Set by the running stack (bot/runtime.py).
CONSOLE_URL = "console_url"


def inbound_of(update: Update) -> Inbound | None:
    """The update as an inbound message; None for channel posts and other bots."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    return Inbound(
        CHANNEL,
        str(update.update_id),
        address=str(user.id),
        name=user.full_name,
        language=user.language_code,
        refusal_aside=update.callback_query is not None,
    )


class TelegramGateway:
    """The bot's handlers, bound to the services' context."""

    def __init__(
        self, ctx: ServiceContext, *, kick: Callable[[], None], default_language: str
    ) -> None:
        self._ctx, self._kick, self._language = ctx, kick, default_language
        self.failed: set[int] = set()

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Add every handler (and the error hook) to ``app``."""
        commands: dict[str, Handler] = {
            "start": self.start,
            "report": self.report,
            "mycases": self.my_cases,
            "cancel": self.cancel,
            "lang": self.lang,
            "help": self.help,
            "open": self.open,
            "case": self.case,
            "digest": self.digest,
            "web": self.web,
        }
        for name, handler in commands.items():
            app.add_handler(CommandHandler(name, self._guard(handler)))
        app.add_handler(CallbackQueryHandler(self._guard(self.press)))
        app.add_handler(MessageHandler(filters.PHOTO, self._guard(self.photo)))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._guard(self.text)))
        app.add_handler(MessageHandler(filters.COMMAND, self._guard(self.help)))
        app.add_error_handler(self._on_error)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update):
            self.failed.add(update.update_id)  # the webhook answers 500: Telegram sends it again
        log.error("handling an update failed", exc_info=context.error)

    def _guard(self, handler: Handler) -> Handler:
        """Run a handler; a replay does nothing but answer; a refused press gets its alert;
        the outbox is woken."""

        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            query = update.callback_query
            try:
                if inbound_of(update) is not None:
                    await handler(update, context)
            except (AlreadyHandled, Limited):
                if query is not None:
                    await answer_press(query)
                return
            except ServiceRefusal as refusal:
                # A message's refusal was answered in the outbox; a press shows it as an alert.
                if query is not None:
                    language = refusal.language or normalize_language(
                        update.effective_user.language_code if update.effective_user else None
                    )
                    language = language or self._language
                    params = {k: localize(v, language) for k, v in refusal.params.items()}
                    text = render(language, refusal.reason, **params)
                    await answer_press(query, text, show_alert=True)
            else:
                if query is not None:
                    await answer_press(query)
            self._kick()

        return guarded

    # ---- commands ----------------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/start`` — the welcome, or ``/start <code>`` binding an invite."""
        inbound = _inbound(update)
        if context.args:
            await replies.bind_invite(self._ctx, inbound, code=context.args[0])
            return
        await replies.welcome(self._ctx, inbound)

    async def report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/report`` — the guided report."""
        await guided.begin_report(self._ctx, _inbound(update))

    async def my_cases(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/mycases``."""
        await replies.my_cases(self._ctx, _inbound(update))

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/cancel`` — drop the conversation in progress."""
        await waiting.abandon(self._ctx, _inbound(update))

    async def lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/lang`` — choose 中文 or English."""
        await replies.say(self._ctx, _inbound(update), "tg.lang_choose", buttons=LANGUAGE_BUTTONS)

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/help`` (and any command we do not know)."""
        await replies.help_for(self._ctx, _inbound(update))

    async def open(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/open`` — open cases, oldest first."""
        await replies.open_cases(self._ctx, _inbound(update))

    async def digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/digest`` — today's digest now, for staff."""
        await daily.on_request(self._ctx, _inbound(update))

    async def web(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/web`` — a one-time sign-in link to the staff console (or why there is none)."""
        base = context.bot_data.get(CONSOLE_URL) if context.bot_data else None
        await signin.console_link(self._ctx, _inbound(update), base_url=base)

    async def case(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/case <n>`` — one case with the buttons its reader may press."""
        inbound = _inbound(update)
        arg = (context.args or [""])[0].lstrip("#")
        if not (arg.isascii() and arg.isdigit()):  # "²" is a digit to Python, not to int()
            await replies.say(self._ctx, inbound, "tg.case_usage")
            return
        await replies.show_case(self._ctx, inbound, number=int(arg))

    # ---- messages and buttons ----------------------------------------------------------------

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text: the answer to the question in progress, if any."""
        text = update.message.text if update.message else ""
        await messages.message(self._ctx, _inbound(update), UNKNOWN, text=text or "")

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo: kept (as Telegram's file id) on the report in progress."""
        message = update.message
        if message is None or not message.photo:
            return
        photo, caption = message.photo[-1].file_id, message.caption
        # A photo sent as a reply to a case's card is about that case (the fix, from its holder).
        about = card_number(message.reply_to_message, context.bot.id)
        await messages.message(
            self._ctx, _inbound(update), UNKNOWN, text=caption, photo=photo, about=about
        )

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button: authorized against the case and the person by the use case it calls."""
        query = update.callback_query
        if query is None:
            return
        inbound, data = _inbound(update), query.data or ""
        if data == CONFIRM:
            # The guided report filed by the writer, committed in a group; whatever it does
            # not take (NotHot: nothing written) is the general path's below.
            with suppress(intake_telegram.NotHot):
                await intake_telegram.confirm(self._ctx, inbound)
                return
        if data.startswith(PREFIX):
            await waiting.answer(self._ctx, inbound, choice=data)
        elif data in ("l:zh", "l:en"):
            await replies.set_language(self._ctx, inbound, language=data[2:])
        elif (pressed := decode(data)) is None:
            raise ServiceRefusal("tg.stale")
        elif pressed.action is Action.RATE and pressed.arg in ("1", "2"):
            rating = Rating.from_code(pressed.arg)
            request = lifecycle.Request(Action.RATE, rating=rating)
            await lifecycle.act_on(self._ctx, inbound, number=pressed.number, request=request)
        elif pressed.action in ASKED_FIRST:
            await questions.ask_before(
                self._ctx, inbound, number=pressed.number, action=pressed.action
            )
        else:
            request = lifecycle.Request(pressed.action)
            await lifecycle.act_on(self._ctx, inbound, number=pressed.number, request=request)


def card_number(replied: Message | None, bot_id: int) -> int | None:
    """The case a message of ours is about — its buttons' case, else the first "#n" in it — or
    None for anyone else's message. Only a hint: the use case decides what the sender may do."""
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None
    markup = replied.reply_markup
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            pressed = decode(str(button.callback_data or ""))
            if pressed is not None:
                return pressed.number
    found = _CASE_MENTION.search(replied.text or replied.caption or "")
    return int(found.group(1)) if found else None


def _inbound(update: Update) -> Inbound:
    inbound = inbound_of(update)
    assert inbound is not None  # the guard lets only people's updates through
    return inbound
