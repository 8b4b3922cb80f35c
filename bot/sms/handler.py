"""One inbound SMS: its text parsed by the SMS grammar into the requests every channel makes,
handled by the shared use cases in one unit of work, answered with the messages it caused for
its sender (TwiML). A retried MessageSid is handled once and gets the same answer again.

What is SMS's own stays here: the grammar (reply codes, rating digits, opt-out words), the
community named by the number texted, and the answer's form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from bot.delivery.store import answers_to
from bot.services.intake import sms as intake
from bot.services.intake.arrival import NotHot
from bot.services.talk import messages
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.receipts import handled_before
from core import sms as grammar
from core.cases import Action
from core.sms_text import as_sms

from .media import Fetched, Medium

CHANNEL = "sms"
# How an MMS's media are fetched (``media.MediaFetcher``).
Fetch = Callable[[Sequence[Medium]], Awaitable[Fetched]]


@dataclass(frozen=True, slots=True)
class InboundSms:
    """What Twilio posted."""

    sid: str
    sender: str
    to: str
    body: str
    media: tuple[Medium, ...] = ()  # an MMS's pictures, as Twilio announced them


async def handle_sms(
    ctx: ServiceContext, message: InboundSms, *, fetch: Fetch | None = None
) -> list[str]:
    """Handle ``message``; return the texts to answer with (TwiML). The media of a report are
    fetched with ``fetch`` first, unless the message was handled before (Twilio retried it)."""
    command = grammar.parse(message.body)
    spoken = grammar.language_of_text(message.body)
    writes = isinstance(command, grammar.Report) and any(ch.isalpha() for ch in message.body)
    inbound = Inbound(
        CHANNEL,
        message.sid,
        address=message.sender,
        language=spoken,
        language_guessed=True,
        wrote_in=spoken if writes else None,
    )
    fetched = Fetched()
    wants_media = message.media and isinstance(command, grammar.Report) and fetch is not None
    if wants_media and not await handled_before(ctx, inbound):
        assert fetch is not None
        fetched = await fetch(message.media)
    meaning = _meaning(command, message, fetched)
    # The writer's hot path takes most reports, committed in groups; one with media (or whose
    # media were refused) goes the general path, which keeps the photos and says what was not.
    if isinstance(meaning, messages.Report) and meaning.to_address and not message.media:
        with suppress(NotHot):  # NotHot: nothing written, the general path takes it
            return await intake.sms_report(ctx, inbound, meaning.text, meaning.to_address)
    # Handled before, or refused: the answer (why, or the notice) is in the outbox.
    with suppress(AlreadyHandled, ServiceRefusal, Limited):
        await messages.message(ctx, inbound, meaning, text=message.body)
    rows = await answers_to(ctx, inbound.key, CHANNEL)
    return [as_sms(row.text, row.button_rows(), row.language) for row in rows]


def _meaning(command: grammar.Command, message: InboundSms, fetched: Fetched) -> messages.Meaning:
    """The request an SMS command stands for."""
    match command:
        case grammar.OptOut():
            return messages.Subscribe(on=False)
        case grammar.OptIn():
            return messages.Subscribe(on=True)
        case grammar.Help():
            return messages.Answer("sms.help")
        case grammar.Acknowledge(number):
            return messages.ActOn(number, Action.ACKNOWLEDGE)
        case grammar.Done(number):
            return messages.ActOn(number, Action.RESOLVE)
        case grammar.Status(number):
            return messages.StatusOf(number)
        case grammar.Rate(rating, number, reason):
            return messages.RateCase(rating, number, reason)
        case grammar.Report(text):
            return messages.Report(
                text, message.to, photos=fetched.photos, photos_refused=fetched.refused
            )
    raise AssertionError(f"an SMS command without a meaning: {command!r}")
