"""A database of the previous release (0013: invite codes in plain text as the table's key,
sessions without an absolute end) upgrades cleanly: each code is replaced by its sha256 and still
binds its chat, each session ends 12 hours after it began; the downgrade goes back to 0013."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.directory.load import load_directory
from bot.services.talk.replies import bind_invite
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from db.engine import Database
from db.migrate import current_revision, head_revision, upgrade
from sandbox.harness import EXAMPLE, sqlite_url
from tests.conftest import POSTGRES_URL
from tests.db.previous_release import migrate, previous_release

PREVIOUS = "0013"
CODE = "old-release-invite-code-0123456"
AT = datetime(2026, 12, 1, 8, 0)  # naive, as the column stores it
INVITE = (
    "INSERT INTO invite (code, person_id, created_at, expires_at) VALUES (:code, :person, :t, :e)"
)
SESSION = (
    "INSERT INTO console_session (id_hash, person_id, csrf, language, created_at, seen_at)"
    " VALUES (:id, 'liubo', 'csrf', 'zh', :t, :t)"
)


async def _rows_of_0013(conn: AsyncConnection) -> None:
    await conn.execute(
        text(INVITE),
        {"code": CODE, "person": "mgr-yuanxiang", "t": AT, "e": AT + timedelta(days=7)},
    )
    await conn.execute(text(SESSION), {"id": "a" * 64, "t": AT})


async def _rows(db: Database, query: str) -> list[tuple[object, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(query))).all()]


async def _upgraded(db: Database) -> None:
    await upgrade(db)
    assert await current_revision(db) == head_revision()
    invites = await _rows(db, "SELECT code_hash, person_id FROM invite")
    assert invites == [(hashlib.sha256(CODE.encode()).hexdigest(), "mgr-yuanxiang")]
    cells = [str(v) for row in await _rows(db, "SELECT * FROM invite") for v in row]
    assert not [c for c in cells if CODE in c]
    (ends,) = await _rows(db, "SELECT created_at, expires_at FROM console_session")
    begun, end = (v if isinstance(v, datetime) else datetime.fromisoformat(str(v)) for v in ends)
    assert end.replace(tzinfo=None) - begun.replace(tzinfo=None) == timedelta(hours=12)

    # the code sent before the upgrade still binds its chat (the example directory loaded now)
    at = AT.replace(tzinfo=UTC) + timedelta(hours=1)
    ctx = ServiceContext(channels=BOOK, db=db, clock=lambda: at)
    await load_directory(ctx, read_directory(EXAMPLE))
    bound = await bind_invite(ctx, Inbound("telegram", "old-1", address="990001"), code=CODE)
    assert bound is not None
    assert bound.id == "mgr-yuanxiang"

    async with db.engine.begin() as conn:
        await migrate(conn, PREVIOUS, down=True)
    assert await current_revision(db) == PREVIOUS
    assert await _rows(db, "SELECT * FROM invite") == []  # a hash cannot become a code again
    assert len(await _rows(db, "SELECT * FROM console_session")) == 1


async def test_sqlite_upgrades_from_0013(tmp_path: Path) -> None:
    async with previous_release(PREVIOUS, _rows_of_0013, sqlite_url(tmp_path / "old.db")) as db:
        await _upgraded(db)


@pytest.mark.skipif(not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL")
async def test_postgres_upgrades_from_0013() -> None:
    async with previous_release(PREVIOUS, _rows_of_0013) as db:
        await _upgraded(db)
