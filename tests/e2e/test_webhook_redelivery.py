"""Two ``wolaiban run`` on one PostgreSQL schema, Telegram by webhook: a button press one of them
committed, whose answer never reached Telegram (it was killed), is delivered to the other, which
answers 2xx (its answer to the expired query, carried in that 2xx, refused by Telegram) and does
nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, func, select

from core.texts import render
from db.engine import Database, open_database
from db.models import CaseEvent, InboundReceipt, OutboxMessage
from sandbox.child import Process, clean_env
from sandbox.serve import free_port, serving
from sandbox.telegram import Limits, TelegramEmulator
from tests.conftest import EXAMPLE, POSTGRES_URL
from tests.e2e.process import role_schema_url
from tests.e2e.test_process import buttons, report, until, until_db

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="set WOLAIBAN_TEST_POSTGRES_URL to run on PostgreSQL"
)
RESIDENT, MANAGER = 4001, 2001
SECRET = "redelivery-webhook-secret-5b1e"


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    """A migrated database URL whose connections use a schema of their own, dropped afterwards."""
    assert POSTGRES_URL
    async with role_schema_url(POSTGRES_URL) as url:
        yield url


def instance(
    emulator: TelegramEmulator, telegram_url: str, database_url: str, log: Path
) -> Process:
    """One ``wolaiban run`` on ``database_url``, Telegram posting to its own webhook."""
    port = free_port()
    env = clean_env(
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=emulator.token,
        TELEGRAM_API_URL=telegram_url,
        TELEGRAM_CHAT_INTERVAL="0.1",
        HTTP_PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        DIRECTORY_FILE=str(EXAMPLE),
        SWEEP_SECONDS="1",
    )
    return Process(env, log)


async def started(process: Process) -> str:
    """Start ``process``; its webhook URL once it takes updates."""
    process.start()
    serving_line = render("zh", "cli.serving", host="127.0.0.1", port=process.env["HTTP_PORT"])
    await until(lambda: serving_line in process.log.read_text(encoding="utf-8"), seconds=60)
    return process.env["TELEGRAM_WEBHOOK_URL"]


def route_to(emulator: TelegramEmulator, url: str) -> None:
    """The balancer sends Telegram's next posts to ``url``."""
    emulator.webhook = {"url": url, "secret_token": SECRET}


async def test_a_press_committed_by_a_killed_instance_is_answered_2xx_by_the_other(
    tmp_path: Path, schema_url: str
) -> None:
    emulator = TelegramEmulator(limits=Limits(private_interval=0.1))
    emulator.add_user(RESIDENT, "李大爷", "zh")
    emulator.add_user(MANAGER, "王经理", "zh")
    db = open_database(schema_url)
    async with serving(emulator.app) as telegram_url:
        a = instance(emulator, telegram_url, schema_url, tmp_path / "a.log")
        b = instance(emulator, telegram_url, schema_url, tmp_path / "b.log")
        try:
            a_url = await started(a)
            b_url = await started(b)
            route_to(emulator, a_url)
            await report(emulator, RESIDENT, "快递堆在马路上")
            await until(lambda: "ack:1" in buttons(emulator, MANAGER))

            # A takes the press, commits it, and is killed while its answer (its webhook
            # response, held) is on the way: too late for the query, and for the post.
            emulator.hold_answers()
            card = emulator.last(MANAGER)
            pressing = asyncio.create_task(emulator.user_presses(MANAGER, card, "ack:1"))
            await until(lambda: bool(emulator.held), seconds=20)
            (update_id,) = emulator.held
            await until_db(db, lambda cases, _: cases[0].status == "acknowledged")
            effects = await _outbox(db)
            a.kill()
            emulator.expire(update_id)
            (query_id,) = emulator.expired
            with pytest.raises(httpx.HTTPError):  # the post to A counts as unanswered
                await pressing

            # Telegram delivers the update again, to B this time.
            emulator.hold_answers(False)
            route_to(emulator, b_url)
            await emulator.replay(update_id)  # raises unless B answers 2xx
            await emulator.replay(update_id)  # and again, should Telegram retry once more

            async with db.reading() as session:
                kinds = (
                    await session.exec(
                        select(CaseEvent.kind)
                        .where(CaseEvent.case_number == 1)
                        .order_by(col(CaseEvent.id))
                    )
                ).all()
                receipts = (
                    await session.exec(
                        select(func.count())
                        .select_from(InboundReceipt)
                        .where(InboundReceipt.external_id == str(update_id))
                    )
                ).one()
            assert list(kinds).count("acknowledged") == 1
            assert receipts == 1
            assert await _outbox(db) == effects  # no second effect
            assert emulator.answer_to(update_id) is None  # nobody could answer it in time
            answers = [r for r in emulator.replies if r.get("callback_query_id") == query_id]
            assert len(answers) == 3  # A's, too late, and B's to each delivery: all refused
        finally:
            emulator.hold_answers(False)
            a.stop()
            b.stop()
            await db.dispose()
    told = (tmp_path / "b.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in told
    assert "handling an update failed" not in told
    # B's answers rode in its webhook responses: Telegram tells nobody they were refused.
    assert f"button press {query_id} not answered" not in told


async def _outbox(db: Database) -> list[tuple[int | None, str]]:
    """The outbox rows, but the digests: the clock writes those at its hour, whatever is pressed."""
    query = (
        select(OutboxMessage)
        .where(~col(OutboxMessage.idempotency_key).startswith("digest:"))
        .order_by(col(OutboxMessage.id))
    )
    async with db.reading() as session:
        rows = (await session.exec(query)).all()
    return [(m.id, m.idempotency_key) for m in rows]
