"""The SMS report's hot path writes what the general path writes for senders it meets again, not
only strangers: a known sender reporting a second time, a resident whose language changed, an
address given up as unreachable that writes again, and a case whose manager has a chain of
supervisors above them (a supervisor reporting stands in the chain's relation to their case).

Each scenario runs on two fresh databases of one backend, the same sender and texts and the same
moments on both: the compared report is taken by the hot path (``sms_report``, which must not
raise ``NotHot``) on one and forced down the general path (``messages.message``) on the other;
the person, their address, the case, its events and every outbox row must be equal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.channels import BOOK
from bot.delivery.results import record_dead
from bot.directory_file import read_directory
from bot.services.directory.load import load_directory
from bot.services.intake import sms as intake
from bot.services.talk import messages
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from bot.sms.handler import InboundSms, handle_sms
from core import sms as grammar
from core.directory import Directory
from core.directory_checks import validate_directory
from db.directory_cache import directory as read
from db.engine import open_database
from db.migrate import upgrade
from db.models import Identity, OutboxMessage, Person
from sandbox.harness import EXAMPLE, MORNING, example_data, postgres_schema, sqlite_url
from tests.conftest import BACKENDS, POSTGRES_URL, Clock
from tests.services.written import written

TO = "+8610690000003"  # yuanxiang: routed to mgr-yuanxiang (by SMS), sup-yuanxiang above them
STRANGER = "+8613700000201"  # first met by SMS
LISTED = "+8613900000003"  # r-yuanxiang-5, a resident in the directory (Telegram too)
TOP = "+8613800000031"  # sup-town, above sup-yuanxiang in ``_chained``
FIRST, AGAIN = "楼道灯坏了，晚上看不见", "电梯门关不上"

Setup = Callable[[ServiceContext], Awaitable[None]]


@pytest.fixture(params=BACKENDS)
async def twins(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ServiceContext, ServiceContext]]:
    """Two fresh, migrated databases on one backend (the general path's, the hot path's), each
    with its own clock at the same moment."""
    async with AsyncExitStack() as stack:
        pair = []
        for name in ("general", "hot"):
            if request.param == "postgres":
                assert POSTGRES_URL
                db = await stack.enter_async_context(postgres_schema(POSTGRES_URL))
            else:
                db = open_database(sqlite_url(tmp_path / f"{name}.db"))
                stack.push_async_callback(db.dispose)
            await upgrade(db)
            clock = Clock(MORNING)
            pair.append(ServiceContext(channels=BOOK, db=db, clock=clock, default_language="zh"))
        yield pair[0], pair[1]


def _sms(sid: str, phone: str, text: str) -> Inbound:
    """The inbound ``handle_sms`` makes of a report (its language guessed from the text)."""
    said = grammar.language_of_text(text)
    return Inbound("sms", sid, address=phone, language=said, language_guessed=True, wrote_in=said)


async def _first(ctx: ServiceContext, phone: str, text: str = FIRST) -> None:
    """An earlier report, as the webhook takes it (the same way on both databases)."""
    assert await handle_sms(ctx, InboundSms("SMfirst", phone, TO, text))


async def _compare(
    twins: tuple[ServiceContext, ServiceContext],
    phone: str,
    text: str = AGAIN,
    *,
    directory: Directory | None = None,
    setup: Setup | None = None,
) -> ServiceContext:
    """``setup`` then, three hours on, the report of ``text`` by ``phone``: down the general path
    on one database, the hot path on the other; what each left must be equal. The hot one."""
    found: list[dict[str, Any]] = []
    for ctx, hot in zip(twins, (False, True), strict=True):
        await load_directory(ctx, directory or read_directory(EXAMPLE))
        async with ctx.db.reading() as session:
            await read(session)  # in memory, as after a process's first message
        if setup is not None:
            await setup(ctx)
        clock = ctx.clock
        assert isinstance(clock, Clock)
        since = clock.advance(hours=3)
        inbound = _sms("SMagain", phone, text)
        if hot:
            writer = ctx.db.writer
            assert writer is not None
            before = writer.batches
            # NotHot here fails the test: the hot path must take this report itself.
            assert await intake.sms_report(ctx, inbound, text, TO)
            assert writer.batches == before + 1
        else:
            report = messages.Report(text, to_address=TO)
            await messages.message(ctx, inbound, report, text=text)
        found.append(await written(ctx, phone, since=since))
    general, hot_rows = found
    assert hot_rows == general
    return twins[1]


async def _sender(ctx: ServiceContext, phone: str) -> tuple[Person, Identity]:
    async with ctx.db.reading() as session:
        query = select(Person, Identity).join(Identity, col(Identity.person_id) == col(Person.id))
        [(person, identity)] = (await session.exec(query.where(Identity.address == phone))).all()
    return person, identity


async def _answers(ctx: ServiceContext, phone: str) -> list[OutboxMessage]:
    """The rows that answered the compared report (back where it was written)."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.reply_to == "sms:SMagain")
        rows = (await session.exec(query.order_by(col(OutboxMessage.id)))).all()
    assert rows
    assert {r.address for r in rows} == {phone}
    return list(rows)


@pytest.mark.parametrize("phone", [STRANGER, LISTED], ids=["met-by-sms", "in-directory"])
async def test_a_known_sender_reporting_again(
    twins: tuple[ServiceContext, ServiceContext], phone: str
) -> None:
    hot = await _compare(twins, phone, setup=lambda ctx: _first(ctx, phone))
    assert [r.template for r in await _answers(hot, phone)] == ["case.received"]


@pytest.mark.parametrize(
    ("first", "again", "language"),
    [(FIRST, "The lift door will not close", "en"), ("Bins overflowing by gate 2", AGAIN, "zh")],
    ids=["zh-then-en", "en-then-zh"],
)
async def test_the_language_follows_what_the_resident_last_wrote(
    twins: tuple[ServiceContext, ServiceContext], first: str, again: str, language: str
) -> None:
    async def setup(ctx: ServiceContext) -> None:
        await _first(ctx, STRANGER, first)
        person, _ = await _sender(ctx, STRANGER)
        assert person.language != language  # it does change

    hot = await _compare(twins, STRANGER, again, setup=setup)
    person, _ = await _sender(hot, STRANGER)
    assert person.language == language
    assert {r.language for r in await _answers(hot, STRANGER)} == {language}


async def test_an_address_given_up_as_unreachable_that_writes_again(
    twins: tuple[ServiceContext, ServiceContext],
) -> None:
    async def setup(ctx: ServiceContext) -> None:
        await _first(ctx, STRANGER)
        async with ctx.db.reading() as session:
            query = select(OutboxMessage).where(OutboxMessage.address == STRANGER)
            answer = (await session.exec(query)).first()
        assert answer is not None
        assert answer.id is not None
        await record_dead(ctx, message_id=answer.id, error="gave up", unreachable=True)
        _, identity = await _sender(ctx, STRANGER)
        assert not identity.reachable

    hot = await _compare(twins, STRANGER, setup=setup)
    _, identity = await _sender(hot, STRANGER)
    assert identity.reachable  # reachable again, and answered there
    assert [r.template for r in await _answers(hot, STRANGER)] == ["case.received"]


def _chained() -> Directory:
    """The example with a supervisor above sup-yuanxiang: yuanxiang's cases have a chain of two
    (mgr-yuanxiang, then sup-yuanxiang, then sup-town), sup-town reached by SMS only."""
    data = example_data()
    for person in data["people"]:
        if person["id"] == "sup-yuanxiang":
            person["supervisor"] = "sup-town"
    top = {"id": "sup-town", "name": "镇主管", "role": "supervisor", "phone": TOP}
    data["people"].append({**top, "community": "yuanxiang"})
    directory = validate_directory(data)
    assert isinstance(directory, Directory), directory
    return directory


@pytest.mark.parametrize("phone", [STRANGER, TOP], ids=["resident", "top-supervisor"])
async def test_a_case_routed_to_a_manager_with_supervisors_above(
    twins: tuple[ServiceContext, ServiceContext], phone: str
) -> None:
    """The manager's card and the reporter's answer match; a supervisor at the chain's top who
    reports is a party as the chain: their answer carries the chain's buttons."""
    hot = await _compare(twins, phone, directory=_chained())
    async with hot.db.reading() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    [card] = [r for r in rows if r.template == "case.card"]
    assert (card.person_id, card.channel) == ("mgr-yuanxiang", "sms")
    [answer] = await _answers(hot, phone)
    verbs = {b["data"].split(":")[0] for row in answer.buttons for b in row}
    assert ("ack" in verbs) == (phone == TOP)
