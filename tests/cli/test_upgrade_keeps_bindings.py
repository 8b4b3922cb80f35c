"""A database made by the previous release (schema 0007: Telegram ids and phones on ``person``)
upgrades with ``wolaiban db upgrade`` and keeps every person's bindings, opt-outs and languages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels import BOOK
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from db import queries
from db.engine import Database
from db.migrate import head_revision, upgrade
from db.models import OptOut, Person
from tests.cli.conftest import Cli
from tests.conftest import POSTGRES_URL
from tests.db.previous_release import at_revision, opened, previous_release

PREVIOUS = "0007"
OPTED_OUT = "+8613900000009"
COLUMNS = ("id", "name", "role", "phone", "tg", "gone", "language", "source")
# (id, name, role, phone, telegram_id, telegram_unreachable, language, source)
PEOPLE = [
    ("liubo", "刘博", "staff", "+8613800000001", 1001, False, "zh", "directory"),
    ("wang", "王经理", "manager", "+8613800000002", 2001, True, "en", "directory"),
    ("zhao", "赵主管", "supervisor", "+8613800000003", None, False, None, "directory"),
    ("tg-4001", "李大爷", "resident", None, 4001, False, "en", "telegram"),
    (
        "sms-+8613900000009",
        "+8613900000009",
        "resident",
        "+8613900000009",
        None,
        False,
        "zh",
        "sms",
    ),
]


async def _rows_of_0007(conn: AsyncConnection) -> None:
    """The rows as the previous release left them."""
    for row in PEOPLE:
        await conn.execute(
            text(
                "INSERT INTO person (id, name, role, phone, telegram_id, telegram_unreachable,"
                " language, source, active) VALUES (:id, :name, :role, :phone, :tg, :gone,"
                " :language, :source, true)"
            ),
            dict(zip(COLUMNS, row, strict=True)),
        )
    await conn.execute(
        text("INSERT INTO opt_out (phone, at, source) VALUES (:p, '2026-11-30 08:00:00', 'sms')"),
        {"p": OPTED_OUT},
    )


async def _previous_release(db: Database) -> None:
    """The schema and rows as the previous release left them."""
    await at_revision(db, PREVIOUS, _rows_of_0007)


async def _kept_everything(db: Database) -> None:
    """Every binding, reachability, opt-out and language as before, behind the one lookup."""
    ctx = ServiceContext(channels=BOOK, db=db)
    async with db.reading() as session:
        for pid, _, _, phone, tg, gone, language, _ in PEOPLE:
            person = await session.get(Person, pid)
            assert person is not None
            assert person.language == language
            chat = await queries.identity_of(session=session, person_id=pid, channel="telegram")
            assert (chat.address, not chat.reachable) == (str(tg), gone) if tg else chat is None
            sms = await queries.identity_of(session=session, person_id=pid, channel="sms")
            assert sms.address == phone if phone else sms is None
        assert await session.get(OptOut, OPTED_OUT) is not None
    # A message from a bound chat is its person's, and brings the blocked chat back.
    inbound = Inbound("telegram", uuid.uuid4().hex, address="2001", name="王")
    async with unit_of_work(ctx, inbound) as unit:
        assert unit.sender is not None
        assert unit.sender.id == "wang"
    async with db.reading() as session:
        chat = await queries.identity_of(session=session, person_id="wang", channel="telegram")
    assert chat is not None
    assert chat.reachable


def test_sqlite_upgrades_with_the_command(cli: Cli) -> None:
    asyncio.run(_on(cli.url, _previous_release))
    done = cli("db", "upgrade")
    assert done.code == 0, done.err
    assert head_revision() in done.out
    asyncio.run(_on(cli.url, _kept_everything))


async def _on(url: str, work: Callable[[Database], Awaitable[None]]) -> None:
    async with opened(url) as db:
        await work(db)


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_postgres_upgrades_and_keeps_them() -> None:
    async with previous_release(PREVIOUS, _rows_of_0007) as db:
        # What `wolaiban db upgrade` runs (its schema here is chosen by connection settings).
        await upgrade(db)
        await _kept_everything(db)
