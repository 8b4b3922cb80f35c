"""One inbound SMS, handled in one transaction: a report, a rating, a status query, opt-out and
opt-in, help, a manager's reply code, or the answer to the question in progress.

Replies to the sender are outbox rows like every message; the ones this SMS caused are taken out
as the TwiML answer (and marked sent), so the sender gets them at once and exactly once — a
retried webhook with the same MessageSid gets the same answer again and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from core import sms as grammar
from core.cases import Action, Channel, Status
from db import queries
from db.directory_cache import directory
from db.models import (
    Case,
    Draft,
    InboundReceipt,
    OptOut,
    OutboxMessage,
    Person,
)

from . import drafts
from .announce import both
from .context import (
    Actor,
    AlreadyHandled,
    Inbound,
    ServiceContext,
    ServiceRefusal,
    Unit,
    unit_of_work,
)
from .lifecycle import Request, act_in
from .notify import Outbox, localize
from .parties import load_parties
from .report import NewReport, open_case
from .sms_text import as_sms

SMS = Channel.SMS
CASES_PER_WINDOW, CASE_WINDOW = 5, timedelta(minutes=10)
MESSAGES_PER_HOUR = 30
OTHER = "other"


@dataclass(frozen=True, slots=True)
class InboundSms:
    """What Twilio posted."""

    sid: str
    sender: str
    to: str
    body: str


@dataclass(frozen=True, slots=True)
class Answers:
    """The answers to one SMS: queued by SMS to the number that texted, even for a person the
    outbox would otherwise reach on Telegram (they asked by SMS, so they read their phone)."""

    outbox: Outbox
    phone: str

    async def ask(
        self, person: Person, template: str, *, key: str, params: dict[str, Any] | None = None
    ) -> None:
        """Queue ``template`` for ``person`` as an answer to this SMS."""
        row = await self.outbox.ask(person, template, key=key, params=params)
        if row is not None:
            row.channel, row.address = SMS.value, self.phone


async def handle_sms(ctx: ServiceContext, message: InboundSms) -> list[str]:
    """Handle ``message``; return the texts to answer with (TwiML)."""
    inbound = Inbound("sms", message.sid, sender=message.sender)
    try:
        async with unit_of_work(ctx, inbound) as unit:
            await _handle(unit, message)
            return await _take_replies(unit, message)
    except AlreadyHandled:
        return await _replies_given(ctx, message.sid)


async def _handle(unit: Unit, message: InboundSms) -> None:
    person = await _sender(unit, message)
    command = grammar.parse(message.body)
    answers = Answers(Outbox(unit.session, unit.now, unit.default_language), message.sender)
    key = f"sms:{message.sid}"
    if await _over_limit(unit, message, person, command, answers, key):
        return
    try:
        await _dispatch(unit, message, person, command, answers, key)
    except ServiceRefusal as refusal:
        # The answer says why; nothing else of this message changed (the use case raised
        # before writing, and its own writes were never flushed past the refusal).
        params = {k: localize(v, _language(person, unit)) for k, v in refusal.params.items()}
        await answers.ask(person, refusal.reason, key=key, params=params)


def _language(person: Person, unit: Unit) -> str:
    return person.language or unit.default_language


async def _sender(unit: Unit, message: InboundSms) -> Person:
    """The directory person with this phone, or the resident this number has been so far."""
    spoken = grammar.language_of_text(message.body)
    person = await queries.person_by_phone(session=unit.session, phone=message.sender)
    if person is None:
        person = Person(
            id=f"sms-{message.sender}",
            name=message.sender,
            role="resident",
            phone=message.sender,
            language=spoken,
            source="sms",
        )
        unit.session.add(person)
        await unit.session.flush()
    elif (
        person.source != "directory"
        and isinstance(grammar.parse(message.body), grammar.Report)
        and any(ch.isalpha() for ch in message.body)
    ):
        person.language = spoken  # replies follow the language they last wrote in (not "5")
        unit.session.add(person)
    return person


def _is_number(text: str) -> bool:
    """A bare number, as a reply to a numbered list ("2", "２", "2。")."""
    return grammar.normalize(text).isdigit()


async def _over_limit(
    unit: Unit,
    message: InboundSms,
    person: Person,
    command: grammar.Command,
    answers: Answers,
    key: str,
) -> bool:
    """Per-sender limits: past them, one polite notice, then silence until the window passes."""
    hour_ago = unit.now - timedelta(hours=1)
    received = await _count(
        unit,
        select(func.count()).where(
            InboundReceipt.sender == message.sender, col(InboundReceipt.received_at) > hour_ago
        ),
    )
    too_many = received > MESSAGES_PER_HOUR
    if isinstance(command, grammar.Report) and not too_many:
        since = unit.now - CASE_WINDOW
        recent = await _count(
            unit,
            select(func.count()).where(Case.resident_id == person.id, col(Case.created_at) > since),
        )
        too_many = recent >= CASES_PER_WINDOW
    if not too_many:
        return False
    noticed = await _count(
        unit,
        select(func.count()).where(
            OutboxMessage.address == message.sender,
            OutboxMessage.template == "sms.slow_down",
            col(OutboxMessage.created_at) > hour_ago,
        ),
    )
    if not noticed:
        await answers.ask(person, "sms.slow_down", key=key)
    return True


async def _count(unit: Unit, query: object) -> int:
    return int((await unit.session.exec(query)).one())  # type: ignore[call-overload]


async def _dispatch(
    unit: Unit,
    message: InboundSms,
    person: Person,
    command: grammar.Command,
    answers: Answers,
    key: str,
) -> None:
    draft = await unit.session.get(Draft, f"{SMS.value}:{person.id}")
    if draft is not None and draft.flow == "sms_community" and _is_number(message.body):
        # The answer to "which community?": "1" to "3" are not ratings here.
        await _answer_draft(unit, message, person, draft, message.body, answers, key)
        return
    match command:
        case grammar.OptOut():
            await _opt(unit, message.sender, out=True)
            await answers.ask(person, "sms.opted_out", key=key)
        case grammar.OptIn():
            await _opt(unit, message.sender, out=False)
            await answers.ask(person, "sms.opted_in", key=key)
        case grammar.Help():
            await answers.ask(person, "sms.help", key=key)
        case grammar.Acknowledge(number) | grammar.Done(number):
            action = (
                Action.ACKNOWLEDGE if isinstance(command, grammar.Acknowledge) else Action.RESOLVE
            )
            case = await act_in(
                unit, number=number, actor=Actor(person.id, SMS), request=Request(action)
            )
            await answers.ask(
                person,
                "sms.updated",
                key=key,
                params={"number": number, "status": both(f"status.{case.status}")},
            )
        case grammar.Status(number):
            await _status(unit, person, number, answers, key)
        case grammar.Rate():
            await _rate(unit, person, command, answers, key)
        case grammar.Report(text) if draft is not None:
            await _answer_draft(unit, message, person, draft, text, answers, key)
        case grammar.Report(text):
            await _report(unit, message, person, text, answers, key)


async def _opt(unit: Unit, phone: str, *, out: bool) -> None:
    row = await unit.session.get(OptOut, phone)
    if out and row is None:
        unit.session.add(OptOut(phone=phone, at=unit.now, source="sms"))
    elif not out and row is not None:
        await unit.session.delete(row)


async def _latest(unit: Unit, person: Person, *, status: Status | None = None) -> Case | None:
    query = select(Case).where(Case.resident_id == person.id)
    if status is not None:
        query = query.where(Case.status == status.value)
    return (await unit.session.exec(query.order_by(col(Case.number).desc()).limit(1))).first()


async def _status(
    unit: Unit, person: Person, number: int | None, answers: Answers, key: str
) -> None:
    case = (
        await queries.get_case(session=unit.session, number=number)
        if number is not None
        else await _latest(unit, person)
    )
    # Only someone with a part in the case hears of it: its resident, its manager and those above,
    # its community's staff.
    parties = await load_parties(session=unit.session, case=case) if case else None
    if case is None or parties is None or not parties.relations(person.id):
        await answers.ask(person, "sms.no_case", key=key)
        return
    category = await queries.get_category(session=unit.session, category_id=case.category_id)
    name = {"zh": category.name_zh, "en": category.name_en} if category else case.category_id
    await answers.ask(
        person,
        "sms.status",
        key=key,
        params={"number": case.number, "category": name, "status": both(f"status.{case.status}")},
    )


async def _rate(
    unit: Unit, person: Person, command: grammar.Rate, answers: Answers, key: str
) -> None:
    number = command.number
    if number is None:
        waiting = await _latest(unit, person, status=Status.RESOLVED)
        if waiting is None:
            await answers.ask(person, "sms.nothing_to_rate", key=key)
            return
        number = waiting.number
    assert number is not None
    if command.rating.value == "dissatisfied" and not command.reason:
        # Ask why in one message; the next text is the reason (kept in the database).
        await _check_can_rate(unit, person, number)
        await drafts.keep(
            unit,
            channel=SMS,
            person_id=person.id,
            flow="rate_reason",
            step="rate_reason",
            data={"number": number},
        )
        await answers.ask(person, "flow.ask_rate_reason", key=key, params={"number": number})
        return
    request = Request(Action.RATE, rating=command.rating, note=command.reason)
    await act_in(unit, number=number, actor=Actor(person.id, SMS), request=request)


async def _check_can_rate(unit: Unit, person: Person, number: int) -> None:
    case = await queries.get_case(session=unit.session, number=number)
    if case is None or case.resident_id != person.id:
        raise ServiceRefusal("refused.no_such_case", {"number": number})
    if case.status != Status.RESOLVED.value:
        raise ServiceRefusal(
            "refused.wrong_status", {"number": number, "status": both(f"status.{case.status}")}
        )


async def _answer_draft(
    unit: Unit,
    message: InboundSms,
    person: Person,
    draft: Draft,
    text: str,
    answers: Answers,
    key: str,
) -> None:
    await unit.session.delete(draft)
    if draft.flow == "rate_reason":
        request = Request(Action.RATE, rating=grammar.RATING_WORDS["3"], note=text)
        await act_in(
            unit, number=int(draft.data["number"]), actor=Actor(person.id, SMS), request=request
        )
        return
    choices: list[str] = draft.data.get("communities", [])
    picked = grammar.normalize(text)
    if picked.isdigit() and 1 <= int(picked) <= len(choices):
        await _open(unit, person, choices[int(picked) - 1], draft.data["text"])
        return
    # Not a number from the list: take it as a new report (and ask again where it is).
    await _report(unit, message, person, text, answers, key)


async def _report(
    unit: Unit, message: InboundSms, person: Person, text: str, answers: Answers, key: str
) -> None:
    community = await _community_of(unit, message, person)
    if community is not None:
        await _open(unit, person, community, text)
        return
    communities = (await directory(unit.session)).active_communities()
    english = _language(person, unit) == "en"
    lines = "\n".join(
        f"{i} {c.name_en if english else c.name_zh}" for i, c in enumerate(communities, 1)
    )
    await drafts.keep(
        unit,
        channel=SMS,
        person_id=person.id,
        flow="sms_community",
        step="sms_community",
        data={"text": text, "communities": [c.id for c in communities]},
    )
    await answers.ask(person, "sms.ask_community", key=key, params={"choices": lines})


async def _community_of(unit: Unit, message: InboundSms, person: Person) -> str | None:
    """From the number texted (a community's own), else the sender's community in the directory."""
    by_number = await queries.community_by_number(session=unit.session, number=message.to)
    return by_number.id if by_number is not None else person.community_id


async def _open(unit: Unit, person: Person, community: str, text: str) -> None:
    category = await _category_for(unit, text)
    await open_case(
        unit,
        resident_id=person.id,
        channel=SMS,
        new=NewReport(community_id=community, category_id=category, description=text),
    )


async def _category_for(unit: Unit, text: str) -> str:
    """The first category (in directory order) with a keyword in the text, else ``other``."""
    folded = grammar.normalize(text)
    for category in (await directory(unit.session)).active_categories():
        if any(k.casefold() in folded for k in category.keywords if k.strip()):
            return category.id
    return OTHER


async def _take_replies(unit: Unit, message: InboundSms) -> list[str]:
    """The messages this SMS caused for its sender, taken out of the outbox as the TwiML answer."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == SMS.value,
            OutboxMessage.address == message.sender,
            OutboxMessage.created_at == unit.now,
            OutboxMessage.status == "pending",
        )
        .order_by(col(OutboxMessage.id))
    )
    texts = []
    for row in (await unit.session.exec(query)).all():
        row.status, row.sent_at = "sent", unit.now
        row.provider_message_id = f"twiml:{message.sid}"
        row.text = as_sms(row.text, row.buttons, row.language)
        unit.session.add(row)
        texts.append(row.text)
    return texts


async def _replies_given(ctx: ServiceContext, sid: str) -> list[str]:
    """The answer given the first time this MessageSid came (Twilio retries)."""
    async with ctx.db.reading() as session:
        query = (
            select(OutboxMessage.text)
            .where(OutboxMessage.provider_message_id == f"twiml:{sid}")
            .order_by(col(OutboxMessage.id))
        )
        return list((await session.exec(query)).all())
