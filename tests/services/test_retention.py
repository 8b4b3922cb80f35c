"""Retention: each kind of row is dropped at its age and not a minute before — the text of a sent
message (its row kept), inbound receipts, drafts, the photos of an ended case, and (when turned
on) the reporter of ended cases — while what is still in use stays: a message still waiting, an
open case's photos, a reporter with an open case, one who wrote lately, a listed resident."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import col, select

from bot.delivery.claims import claim_due
from bot.delivery.results import record_sent
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, report
from bot.services.data.retention import Retention, retain
from bot.services.talk.guided import begin_report
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.cases import Action, Channel
from db.models import Case, CasePhoto, Draft, Identity, InboundReceipt, OutboxMessage, Person
from db.models.audit import DataAudit
from tests.conftest import Clock
from tests.services.example import case_in

TG = Channel.TELEGRAM
MINUTE = timedelta(minutes=1)
NEW = NewReport("jzsj-south", "parcels", "快递堆在172号楼下", location="172号楼")
# Only the kind under test: the others kept for ever.
NOTHING = Retention(0, 0, 0, 0, 0)


def only(**days: int) -> Retention:
    """A policy dropping only the kinds named."""
    return replace(NOTHING, **days)


async def _outbox(ctx: ServiceContext) -> dict[int, OutboxMessage]:
    async with ctx.db.reading() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    return {row.id: row for row in rows if row.id is not None}


async def test_a_sent_message_loses_its_text_at_its_age_and_a_waiting_one_keeps_it(
    loaded: ServiceContext, clock: Clock
) -> None:
    await report(loaded, resident_id="r-jzsj-172", channel=TG, new=NEW)
    claimed = await claim_due(loaded, channel=TG, limit=50, lease=timedelta(seconds=20))
    assert len(claimed) >= 2  # the resident's answer and the manager's card
    sent_at = clock.advance(hours=1)  # the age counts from the send, not from the writing
    sent = {c.id for c in claimed[:-1]}  # the last one claimed stays waiting (its lease ran out)
    await record_sent(loaded, sent={row_id: f"p-{row_id}" for row_id in sent})
    before = await _outbox(loaded)
    assert all(before[row_id].text for row_id in sent)

    clock.now = sent_at + timedelta(days=180) - MINUTE
    swept = await retain(loaded, only(message_text_days=180))
    assert swept.dropped["texts"] == 0
    assert await _outbox(loaded) == before

    clock.advance(minutes=2)
    swept = await retain(loaded, only(message_text_days=180))
    after = await _outbox(loaded)
    assert swept.dropped["texts"] == len(sent)
    assert set(after) == set(before)  # every row is kept
    for row_id, row in after.items():
        if row_id not in sent:  # still waiting to go: untouched
            assert row.status in ("pending", "sending")
            assert row.model_dump() == before[row_id].model_dump()
            continue
        assert (row.text, row.params) == ("", {})
        kept = {k: v for k, v in before[row_id].model_dump().items() if k not in ("text", "params")}
        assert {k: v for k, v in row.model_dump().items() if k not in ("text", "params")} == kept
    assert (await retain(loaded, only(message_text_days=180))).dropped["texts"] == 0


async def _receipts(ctx: ServiceContext) -> set[str]:
    async with ctx.db.reading() as session:
        return set((await session.exec(select(InboundReceipt.external_id))).all())


async def _write_in(ctx: ServiceContext, external_id: str, address: str) -> str:
    """An inbound message handled (its receipt kept); its sender's person id."""
    async with unit_of_work(ctx, Inbound(Channel.SMS, external_id, address=address)) as unit:
        assert unit.sender is not None
        return unit.sender.id


async def test_receipts_go_at_their_age(loaded: ServiceContext, clock: Clock) -> None:
    first = clock.now
    await _write_in(loaded, "SM-old", "+8613700000001")
    clock.advance(days=10)
    await _write_in(loaded, "SM-young", "+8613700000002")

    clock.now = first + timedelta(days=30) - MINUTE
    assert (await retain(loaded, only(receipts_days=30))).dropped["receipts"] == 0
    assert await _receipts(loaded) == {"SM-old", "SM-young"}
    clock.advance(minutes=2)
    assert (await retain(loaded, only(receipts_days=30))).dropped["receipts"] == 1
    assert await _receipts(loaded) == {"SM-young"}
    clock.now = first + timedelta(days=40, minutes=1)
    await retain(loaded, only(receipts_days=30))
    assert await _receipts(loaded) == set()


async def _drafts(ctx: ServiceContext) -> set[str]:
    async with ctx.db.reading() as session:
        return set((await session.exec(select(Draft.chat))).all())


async def test_a_draft_left_unfinished_goes_at_its_age_from_its_last_change(
    loaded: ServiceContext, clock: Clock
) -> None:
    await begin_report(loaded, Inbound(TG, "u-1", address="4001"))  # r-jzsj-172's chat
    started = clock.now
    clock.advance(days=3)
    await begin_report(loaded, Inbound(TG, "u-2", address="4003"))  # r-yuanxiang-5's
    assert len(await _drafts(loaded)) == 2

    clock.now = started + timedelta(days=7) - MINUTE
    assert (await retain(loaded, only(drafts_days=7))).dropped["drafts"] == 0
    clock.advance(minutes=2)
    assert (await retain(loaded, only(drafts_days=7))).dropped["drafts"] == 1
    (left,) = await _drafts(loaded)
    assert "r-yuanxiang-5" in left
    clock.advance(days=3)
    await retain(loaded, only(drafts_days=7))
    assert await _drafts(loaded) == set()


async def _photos(ctx: ServiceContext) -> dict[int, int]:
    """Photos per case."""
    async with ctx.db.reading() as session:
        numbers = (await session.exec(select(CasePhoto.case_number))).all()
    found: dict[int, int] = {}
    for number in numbers:
        found[number] = found.get(number, 0) + 1
    return found


async def test_the_photos_of_an_ended_case_go_at_their_age_and_an_open_case_keeps_them(
    loaded: ServiceContext, clock: Clock
) -> None:
    photos = (
        NewPhoto(TG, file_id="AgACAgUAAx0"),
        NewPhoto(
            Channel.SMS, content=b"\xff\xd8\xff\xe0 a jpeg's bytes", content_type="image/jpeg"
        ),
    )
    with_photos = NewReport("jzsj-south", "parcels", "快递堆在路上", "172号楼", photos=photos)
    resident = Actor("r-jzsj-172", TG)
    ended = await report(loaded, resident_id="r-jzsj-172", channel=TG, new=with_photos)
    still_open = await report(loaded, resident_id="r-jzsj-172", channel=TG, new=with_photos)
    assert ended.number is not None
    assert still_open.number is not None
    clock.advance(days=2)
    await act(loaded, number=ended.number, actor=resident, request=Request(Action.CANCEL))
    ended_at = clock.now
    assert await _photos(loaded) == {ended.number: 2, still_open.number: 2}

    clock.now = ended_at + timedelta(days=730) - MINUTE
    assert (await retain(loaded, only(photos_days=730))).dropped["photos"] == 0
    clock.advance(minutes=2)
    assert (await retain(loaded, only(photos_days=730))).dropped["photos"] == 2
    assert await _photos(loaded) == {still_open.number: 2}
    async with loaded.db.reading() as session:  # the case itself stays as it was
        case = await session.get(Case, ended.number)
    assert case is not None
    assert case.status == "cancelled"


async def _person(ctx: ServiceContext, person_id: str) -> tuple[Person | None, int]:
    """The person's row and how many addresses they have."""
    async with ctx.db.reading() as session:
        person = await session.get(Person, person_id)
        ids = (await session.exec(select(Identity.id).where(Identity.person_id == person_id))).all()
    return person, len(ids)


async def _reporter(ctx: ServiceContext, number: int) -> str:
    async with ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    return case.resident_id


async def test_reporters_of_ended_cases_are_anonymised_at_their_age_when_turned_on(
    loaded: ServiceContext, clock: Clock
) -> None:
    strangers = {}
    for n, phone in enumerate(("+8613700000011", "+8613700000012", "+8613700000013")):
        strangers[phone] = await _write_in(loaded, f"SM-{n}", phone)
    numbers = {}
    for phone, person_id in strangers.items():
        case = await report(loaded, resident_id=person_id, channel=Channel.SMS, new=NEW)
        assert case.number is not None
        numbers[phone] = case.number
        await act(
            loaded,
            number=case.number,
            actor=Actor(person_id, Channel.SMS),
            request=Request(Action.CANCEL),
        )
    listed = await case_in(loaded, "cancelled")  # r-jzsj-172: the directory lists them
    ended_at = clock.now
    quiet, busy, writes = strangers.values()
    # "busy" reports again (open); "writes" wrote to us lately.
    await report(loaded, resident_id=busy, channel=Channel.SMS, new=NEW)
    policy = only(anonymise_reporters_days=365, receipts_days=30)

    clock.now = ended_at + timedelta(days=365) - timedelta(days=1)
    await _write_in(loaded, "SM-late", "+8613700000013")
    clock.advance(days=1, minutes=-1)
    assert (await retain(loaded, policy)).dropped["reporters"] == 0
    assert (await _person(loaded, quiet))[1] == 1

    clock.advance(minutes=2)
    swept = await retain(loaded, policy)
    assert swept.dropped["reporters"] == 1
    assert await _person(loaded, quiet) == (None, 0)
    erased_id = await _reporter(loaded, numbers["+8613700000011"])
    assert erased_id.startswith("erased-")
    async with loaded.db.reading() as session:  # audited as an erase by the system
        audited = (await session.exec(select(DataAudit))).all()
    assert [(a.kind, a.person, a.actor_id) for a in audited] == [("erase", erased_id, None)]
    for kept in (busy, writes, "r-jzsj-172"):
        person, addresses = await _person(loaded, kept)
        assert person is not None
        assert addresses >= 1
    assert await _reporter(loaded, listed) == "r-jzsj-172"
    async with loaded.db.reading() as session:
        erased = (await session.exec(select(Person).where(col(Person.source) == "erased"))).all()
    assert len(erased) == 1
    # The next run finds nobody left to anonymise (the erased record is not picked again).
    assert (await retain(loaded, policy)).dropped["reporters"] == 0
