"""Telegram handlers, thin: who is writing, what they asked, which use case answers it.

Every update is handled once (its ``update_id`` is recorded in the same transaction as its
effect); every answer goes through the outbox, and the dispatcher is woken when it is committed.
A button press is answered at once — with an alert when nothing could be done, and why.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.services import conversation, drafts, lifecycle, questions, replies
from bot.services.context import Actor, AlreadyHandled, Inbound, ServiceContext, ServiceRefusal
from bot.services.digest import send_digest
from bot.services.notify import localize
from bot.services.report import ensure_resident
from core.buttons import decode
from core.cases import Action, Channel, Rating
from core.texts import normalize_language, render
from db.models import Person

log = logging.getLogger(__name__)
TG = Channel.TELEGRAM
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
LANGUAGE_BUTTONS = [[{"label": "中文", "data": "l:zh"}, {"label": "English", "data": "l:en"}]]


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
        """Run a handler; a replay does nothing; a refusal is told; the outbox is woken."""

        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            try:
                await handler(update, context)
            except AlreadyHandled:
                if update.callback_query:
                    await update.callback_query.answer()
                return
            except ServiceRefusal as refusal:
                await self._refused(update, refusal)
            self._kick()

        return guarded

    async def _refused(self, update: Update, refusal: ServiceRefusal) -> None:
        person = await self._person(update)
        language = normalize_language(person.language if person else None) or self._language
        params = {k: localize(v, language) for k, v in refusal.params.items()}
        if update.callback_query:
            text = render(language, refusal.reason, **params)
            await update.callback_query.answer(text, show_alert=True)
        elif person is not None:
            # The refused step wrote nothing, not even the update's receipt: the answer records
            # it, so a replay of the update is not answered twice.
            with contextlib.suppress(AlreadyHandled):
                await replies.say(
                    self._ctx,
                    person_id=person.id,
                    template=refusal.reason,
                    params=refusal.params,
                    inbound=Inbound("telegram", str(update.update_id)),
                )

    async def _person(self, update: Update) -> Person | None:
        user = update.effective_user
        if user is None or user.is_bot:
            return None
        person = await ensure_resident(
            self._ctx, name=user.full_name, telegram_id=user.id, language=user.language_code
        )
        told = person.language is None and normalize_language(user.language_code) is not None
        if person.telegram_unreachable or told:
            person = await replies.heard_from(
                self._ctx, person_id=person.id, language=user.language_code
            )
        return person

    async def _who(self, update: Update) -> tuple[Person, Inbound]:
        person = await self._person(update)
        if person is None:
            raise AlreadyHandled("not a person")  # channel posts, other bots: nothing to do
        return person, Inbound("telegram", str(update.update_id))

    # ---- commands ----------------------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/start`` — the welcome, or ``/start <code>`` binding an invite."""
        person, inbound = await self._who(update)
        if context.args and update.effective_user is not None:
            bound = await replies.bind_invite(
                self._ctx,
                code=context.args[0],
                telegram_id=update.effective_user.id,
                inbound=inbound,
            )
            if bound is None:
                await replies.say(self._ctx, person_id=person.id, template="tg.invite_invalid")
            return
        await replies.welcome(self._ctx, person_id=person.id, inbound=inbound)

    async def report(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/report`` — the guided report."""
        person, inbound = await self._who(update)
        await conversation.begin_report(self._ctx, person_id=person.id, channel=TG, inbound=inbound)

    async def my_cases(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/mycases``."""
        person, inbound = await self._who(update)
        await replies.my_cases(self._ctx, person_id=person.id, inbound=inbound)

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/cancel`` — drop the conversation in progress."""
        person, inbound = await self._who(update)
        await conversation.abandon(self._ctx, person_id=person.id, channel=TG, inbound=inbound)

    async def lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/lang`` — choose 中文 or English."""
        person, inbound = await self._who(update)
        await replies.say(
            self._ctx,
            person_id=person.id,
            template="tg.lang_choose",
            buttons=LANGUAGE_BUTTONS,
            inbound=inbound,
        )

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/help`` (and any command we do not know)."""
        person, inbound = await self._who(update)
        await replies.help_for(self._ctx, person_id=person.id, inbound=inbound)

    async def open(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/open`` — open cases, oldest first."""
        person, inbound = await self._who(update)
        await replies.open_cases(self._ctx, person_id=person.id, inbound=inbound)

    async def digest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/digest`` — today's digest now, for staff."""
        person, inbound = await self._who(update)
        if (
            person.role != "staff"
            or await send_digest(self._ctx, person_id=person.id, on_demand=True) is None
        ):
            await replies.say(
                self._ctx, person_id=person.id, template="tg.not_staff", inbound=inbound
            )

    async def case(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/case <n>`` — one case with the buttons its reader may press."""
        person, inbound = await self._who(update)
        arg = (context.args or [""])[0].lstrip("#")
        if not arg.isdigit():
            await replies.say(
                self._ctx, person_id=person.id, template="tg.case_usage", inbound=inbound
            )
            return
        await replies.show_case(self._ctx, person_id=person.id, number=int(arg), inbound=inbound)

    # ---- messages and buttons ----------------------------------------------------------------

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Free text: the answer to the question in progress, if any."""
        person, inbound = await self._who(update)
        text = update.message.text if update.message else ""
        answered = await conversation.answer(
            self._ctx, person_id=person.id, channel=TG, text=text, inbound=inbound
        )
        if not answered:
            await replies.say(self._ctx, person_id=person.id, template="tg.unknown")

    async def photo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo: kept (as Telegram's file id) on the report in progress."""
        person, inbound = await self._who(update)
        message = update.message
        if message is None or not message.photo:
            return
        answered = await conversation.answer(
            self._ctx,
            person_id=person.id,
            channel=TG,
            photo=message.photo[-1].file_id,
            inbound=inbound,
        )
        if not answered:
            await replies.say(self._ctx, person_id=person.id, template="tg.unknown")

    async def press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button: authorized against the case and the person by the use case it calls."""
        query = update.callback_query
        if query is None:
            return
        person, inbound = await self._who(update)
        data = query.data or ""
        actor = Actor(person.id, TG)
        if data.startswith(drafts.PREFIX):
            await conversation.answer(
                self._ctx, person_id=person.id, channel=TG, choice=data, inbound=inbound
            )
        elif data in ("l:zh", "l:en"):
            await replies.set_language(
                self._ctx, person_id=person.id, language=data[2:], inbound=inbound
            )
        elif (pressed := decode(data)) is None:
            raise ServiceRefusal("tg.stale")
        elif pressed.action is Action.RATE and pressed.arg in ("1", "2"):
            rating = Rating.from_code(pressed.arg)
            assert rating is not None
            await lifecycle.act(
                self._ctx,
                number=pressed.number,
                actor=actor,
                request=lifecycle.Request(Action.RATE, rating=rating),
                inbound=inbound,
            )
        elif pressed.action in (Action.RATE, Action.REASSIGN, Action.REJECT, Action.CLOSE):
            await questions.ask_before(
                self._ctx,
                person_id=person.id,
                channel=TG,
                number=pressed.number,
                action=pressed.action,
                inbound=inbound,
            )
        else:
            await lifecycle.act(
                self._ctx,
                number=pressed.number,
                actor=actor,
                request=lifecycle.Request(pressed.action),
                inbound=inbound,
            )
        await query.answer()
