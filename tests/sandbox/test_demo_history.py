"""The demo's month of history (``sandbox/demo_history.py``): several hundred cases over the month
in every community, a mix of what happens to cases, rates with something to say, nothing told to
anyone on the emulators, and the same cases again from the same seed."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.staff import stats
from bot.services.unit.context import ServiceContext
from core.directory_checks import validate_directory
from db.engine import open_database
from db.migrate import upgrade
from db.models import Case, CaseEvent, OutboxMessage
from sandbox.demo import demo_directory
from sandbox.demo_history import DAYS, History, make_history
from sandbox.harness import running_stack, serve_emulators, sqlite_url
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator

BEIJING = ZoneInfo("Asia/Shanghai")
OPEN = ("unassigned", "assigned", "acknowledged", "resolved")


@dataclass(frozen=True)
class Built:
    """A database with the history in it, and what the builder said."""

    path: Path
    history: History
    end: datetime


@asynccontextmanager
async def _context(path: Path) -> AsyncIterator[ServiceContext]:
    db = open_database(sqlite_url(path))
    try:
        yield ServiceContext(db=db, channels=BOOK, default_language="zh")
    finally:
        await db.dispose()


async def _build(path: Path, *, end: datetime, days: int = DAYS, seed: int = 24) -> History:
    """As the demo does it: the stories' directory first, then the history on real levels."""
    async with _context(path) as ctx:
        await upgrade(ctx.db)
        directory = validate_directory(demo_directory("zh"))
        assert not isinstance(directory, list)
        await load_directory(ctx, directory)
        data = demo_directory("zh", fast=False)
        return await make_history(ctx, data, end=end, seed=seed, days=days)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One month, built once for the module."""
    # It ends a few minutes from now: on the real clock no timer of it has run out yet, so a live
    # sweep started afterwards has nothing to do and whatever reaches the emulators is history's.
    path = tmp_path_factory.mktemp("history") / "wolaiban.db"
    end = datetime.now(UTC) + timedelta(minutes=5)
    return Built(path, asyncio.run(_build(path, end=end)), end)


async def _cases(path: Path) -> list[Case]:
    async with _context(path) as ctx, ctx.db.reading() as session:
        return list((await session.exec(select(Case).order_by(col(Case.number)))).all())


async def test_several_hundred_cases_over_the_month_in_every_community(built: Built) -> None:
    cases = await _cases(built.path)
    assert 280 <= len(cases) == built.history.cases <= 450
    first, last = min(c.created_at for c in cases), max(c.created_at for c in cases)
    assert first < built.end - timedelta(days=DAYS - 2)
    assert last > built.end - timedelta(days=1)
    data = demo_directory("zh", fast=False)
    per_community = Counter(c.community_id for c in cases)
    assert set(per_community) == {c["id"] for c in data["communities"]}
    assert min(per_community.values()) >= 15
    assert {c.category_id for c in cases} == {c["id"] for c in data["categories"]}
    local = [c.created_at.astimezone(BEIJING) for c in cases]
    assert sum(7 <= t.hour < 22 for t in local) >= 0.85 * len(local)  # mostly by day
    days = Counter(t.date() for t in local)
    weekday = [n for d, n in days.items() if d.weekday() < 5]
    weekend = [n for d, n in days.items() if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > sum(weekend) / len(weekend)
    # Residents on both channels; the history's own people, none of the stories'
    assert {c.channel for c in cases} == {"telegram", "sms"}
    assert all(c.resident_id.startswith("h-") for c in cases)


async def test_a_mix_of_what_happens_to_cases(built: Built) -> None:
    cases = await _cases(built.path)
    assert built.history.refused == 0  # every planned step was one the product allows
    statuses = Counter(c.status for c in cases)
    assert statuses["closed"] > 0.7 * len(cases)
    assert statuses["rejected"]
    assert statuses["cancelled"]
    assert sum(statuses[s] for s in OPEN) >= 3
    assert sum(c.reopen_count > 0 for c in cases) >= 5
    assert sum(c.escalation_level > 0 for c in cases) >= 10
    ratings = Counter(c.rating for c in cases if c.rating)
    assert ratings["satisfied"] > ratings["basically_satisfied"] > ratings["dissatisfied"]
    acknowledged = [c for c in cases if c.acknowledged_at is not None]
    in_time = sum(c.acknowledged_at <= c.ack_due_at for c in acknowledged if c.acknowledged_at)
    assert 0.6 * len(acknowledged) < in_time < len(acknowledged)  # mostly in time, some late
    now = datetime.now(UTC)
    overdue = [c for c in cases if c.status == "assigned" and c.ack_due_at < now]
    assert len(overdue) >= 3  # nobody answered the last few: overdue now
    async with _context(built.path) as ctx, ctx.db.reading() as session:
        kinds = Counter((await session.exec(select(CaseEvent.kind))).all())
    for kind in ("reminded", "escalated", "reopened", "nudged", "closed_unrated", "declined"):
        assert kinds[kind], kind


async def test_rates_have_something_to_say(built: Built) -> None:
    async with _context(built.path) as ctx:
        overall = (await stats.rates(ctx))[""]
        per_community = await stats.rates(ctx, by="community")
    for rate in (overall.response_rate, overall.resolution_rate, overall.satisfaction_rate):
        assert rate is not None
        assert 0.5 < rate < 1.0
    assert len(per_community) == 6
    assert all(
        r.response_rate is not None and r.response_rate < 1.0 for r in per_community.values()
    )


async def test_no_history_message_reaches_the_emulators(built: Built, tmp_path: Path) -> None:
    copy = tmp_path / "wolaiban.db"
    shutil.copy(built.path, copy)
    telegram, twilio = TelegramEmulator(), TwilioEmulator()
    async with _context(copy) as ctx:
        async with ctx.db.reading() as session:
            assert not (await session.exec(select(OutboxMessage.id))).all()
            people = [*demo_directory("zh")["people"], *built.history.residents]
        for person in people:  # every chat open, so nothing could fail to arrive
            if "telegram_id" in person:
                telegram.add_user(person["telegram_id"], person["name"], "zh")
        async with (
            serve_emulators(telegram, twilio) as emulators,
            running_stack(ctx, emulators, sweep_seconds=3600),
        ):
            # Dispatchers start by sending whatever waits; the first sweep runs at once.
            await asyncio.sleep(1.5)
    assert not [m for chat in telegram.chats.values() for m in chat if m.from_bot]
    assert not twilio.sent


async def _facts(path: Path) -> list[tuple[object, ...]]:
    async with _context(path) as ctx, ctx.db.reading() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.number)))).all()
        events = (await session.exec(select(CaseEvent).order_by(col(CaseEvent.id)))).all()
    facts: list[tuple[object, ...]] = [
        (c.number, c.community_id, c.category_id, c.resident_id, c.description, c.status)
        for c in cases
    ]
    facts += [
        (c.rating, c.created_at, c.closed_at, c.reopen_count, c.escalation_level) for c in cases
    ]
    facts += [(e.case_number, e.kind, e.at, e.actor_id, e.channel, e.note) for e in events]
    return facts


async def test_the_same_seed_gives_the_same_cases(tmp_path: Path) -> None:
    end = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday, 20:00 in Beijing
    paths = [tmp_path / f"{name}.db" for name in ("one", "two", "other")]
    await _build(paths[0], end=end, days=3)
    await _build(paths[1], end=end, days=3)
    await _build(paths[2], end=end, days=3, seed=25)
    one, two, other = [await _facts(p) for p in paths]
    assert len(one) > 30
    assert one == two
    assert one != other
