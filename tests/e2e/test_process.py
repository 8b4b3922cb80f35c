"""``wolaiban run`` as a real process against the emulator: the first story, a crash at the worst
moment and mid-conversation, and logs that never show a token or a whole phone number."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from db.engine import Database, open_database
from db.models import Case, CaseEvent, OutboxMessage
from sandbox import harness
from sandbox.child import Process
from sandbox.harness import EXAMPLE, serve_emulators, sqlite_url
from sandbox.telegram import Limits, TelegramEmulator
from tests.e2e.process import run_env

RESIDENT, MANAGER, ENGLISH = 4001, 2001, 4005
PHONE = re.compile(r"\+\d{8,15}")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[TelegramEmulator, Process, Database]]:
    emulator = TelegramEmulator(limits=Limits(private_interval=0.1))
    for user, name, language in (
        (RESIDENT, "李大爷", "zh"),
        (MANAGER, "王经理", "zh"),
        (ENGLISH, "Anna", "en"),
        (2005, "褚经理", "zh"),
    ):
        emulator.add_user(user, name, language)
    database = tmp_path / "wolaiban.db"
    async with serve_emulators(emulator) as emulators:
        settings = {"directory_file": str(EXAMPLE), "sweep_seconds": 1, "log_level": "DEBUG"}
        env = run_env(database, emulators, **settings)
        process = Process(env, tmp_path / "run.log")
        process.start()
        db = open_database(sqlite_url(database))
        try:
            yield emulator, process, db
        finally:
            process.stop()
            await db.dispose()
            log = (tmp_path / "run.log").read_text(encoding="utf-8", errors="replace")
            assert emulator.token not in log
            assert emulator.token.split(":")[1] not in log
            assert PHONE.findall(log) == []


async def until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    await harness.until(check, seconds, step=0.05)


async def until_db(db: Database, check: Callable[[list[Case], list[OutboxMessage]], bool]) -> None:
    async def holds() -> bool:
        async with db.reading() as session:
            cases = list((await session.exec(select(Case))).all())
            outbox = list((await session.exec(select(OutboxMessage))).all())
        return check(cases, outbox)

    await harness.eventually(holds, 20, step=0.1)


def buttons(emulator: TelegramEmulator, user: int) -> list[str]:
    return emulator.last(user).button_data() if emulator.inbox(user) else []


async def report(
    emulator: TelegramEmulator, user: int, text: str, where: str = "172号楼一层"
) -> None:
    """The guided report, step by step, as a resident answers it."""
    await emulator.user_says(user, "/report")
    await until(lambda: "r:category:0" in buttons(emulator, user))
    await emulator.user_presses(user, emulator.last(user), "r:category:0")
    await until(lambda: "r:location:x" in buttons(emulator, user))
    await emulator.user_says(user, where)
    await until(lambda: "r:description:x" in buttons(emulator, user))
    await emulator.user_says(user, text)
    await until(lambda: "r:photos:skip" in buttons(emulator, user))
    await emulator.user_presses(user, emulator.last(user), "r:photos:skip")
    await until(lambda: "r:confirm:ok" in buttons(emulator, user))
    await emulator.user_presses(user, emulator.last(user), "r:confirm:ok")


async def test_the_first_story_in_a_real_process(
    world: tuple[TelegramEmulator, Process, Database],
) -> None:
    emulator, _, db = world
    await report(emulator, RESIDENT, "菜鸟驿站的快递堆在马路上")
    await until(lambda: "ack:1" in buttons(emulator, MANAGER))
    card = emulator.last(MANAGER)
    assert "快递堆放占道" in card.text
    await emulator.user_presses(MANAGER, card, "ack:1")
    await until(lambda: any("接单" in m.text for m in emulator.inbox(RESIDENT)))
    await emulator.user_presses(MANAGER, card, "done:1")
    await until(lambda: "rate:1:1" in buttons(emulator, RESIDENT))
    await emulator.user_presses(RESIDENT, emulator.last(RESIDENT), "rate:1:1")
    await until(lambda: "已办结" in emulator.last(RESIDENT).text)
    await until(lambda: card.button_data() == [])  # the manager's card follows the case
    async with db.reading() as session:
        case = (await session.exec(select(Case))).one()
        kinds = (await session.exec(select(CaseEvent.kind).order_by(col(CaseEvent.id)))).all()
    assert (case.status, case.rating) == ("closed", "satisfied")
    assert list(kinds) == ["reported", "routed", "acknowledged", "resolved", "rated"]
    # an English-speaking resident reads English throughout
    await report(emulator, ENGLISH, "The playground gate is broken", where="Gate 3")
    await until(lambda: "We received your report #2" in emulator.last(ENGLISH).text)
    assert all(
        not re.search(r"[\u4e00-\u9fff]", m.text)
        for m in emulator.inbox(ENGLISH)
        if "Anna" not in m.text
    )


async def test_a_kill_before_the_notifications_loses_none(
    world: tuple[TelegramEmulator, Process, Database],
) -> None:
    emulator, process, db = world
    await emulator.user_says(RESIDENT, "/start")
    await until(lambda: len(emulator.inbox(RESIDENT)) >= 1)
    emulator.outage = True  # Telegram is down: the report's messages wait in the outbox
    await report_blind(emulator, RESIDENT, process, db)
    await until_db(
        db, lambda cases, outbox: len(cases) == 1 and any(m.attempts >= 1 for m in outbox)
    )
    process.kill()  # committed, not yet delivered
    emulator.outage = False
    process.start()
    # what the dead process had claimed waits out its lease (20 s), then goes
    await until(lambda: any("#1" in m.text for m in emulator.inbox(RESIDENT)), seconds=45)
    await until(lambda: any("#1" in m.text for m in emulator.inbox(MANAGER)), seconds=45)
    await until_db(
        db, lambda cases, outbox: all(m.status == "sent" for m in outbox if m.case_number == 1)
    )
    texts = Counter(m.text for chat in (RESIDENT, MANAGER) for m in emulator.inbox(chat))
    assert max(texts.values()) <= 2  # at most one duplicate for the one kill


async def report_blind(
    emulator: TelegramEmulator, user: int, process: Process, db: Database
) -> None:
    """Report while the bot's answers cannot reach the resident (the drafts are in the database)."""
    steps: list[tuple[str, str | None]] = [
        ("/report", None),
        ("r:category:0", "category"),
        ("172号楼", "location"),
        ("快递堆在路上", "description"),
        ("r:photos:skip", "photos"),
        ("r:confirm:ok", "confirm"),
    ]
    for said, _ in steps:
        if said.startswith("r:"):
            await emulator.user_presses(user, emulator.last(user), said)
        else:
            await emulator.user_says(user, said)
        await asyncio.sleep(0.4)  # no reply can arrive during the outage; give it time to commit


async def test_a_kill_mid_conversation_resumes_where_the_resident_was(
    world: tuple[TelegramEmulator, Process, Database],
) -> None:
    emulator, process, _ = world
    await emulator.user_says(RESIDENT, "/report")
    await until(lambda: "r:category:0" in buttons(emulator, RESIDENT))
    await emulator.user_presses(RESIDENT, emulator.last(RESIDENT), "r:category:0")
    await until(lambda: "r:location:x" in buttons(emulator, RESIDENT))
    process.kill()
    process.start()
    await emulator.user_says(RESIDENT, "172号楼一层")
    await until(lambda: "r:description:x" in buttons(emulator, RESIDENT))
