"""Helpers for the SMS end-to-end tests: the stack in daytime, a proxy's public URL, the tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlmodel import SQLModel, and_, col, func, or_, select

from bot.services.cases.routing import zone
from db.engine import Database
from db.models import Case, CaseEvent, InboundReceipt, OptOut, OutboxMessage, Person, Setting
from sandbox.harness import eventually
from sandbox.twilio import Reply
from tests.e2e.channels import Both, both_channels

# The example directory (examples/changyang.yaml).
YUANXIANG_NUMBER = "+8610690000003"  # yuanxiang's own SMS number
MANAGER_PHONE = "+8613800000013"  # mgr-yuanxiang: no Telegram, reached by SMS
LI_DAYE = "+8613900000001"  # r-jzsj-172, in the directory
WATCHED = (Case, CaseEvent, OutboxMessage, InboundReceipt, Person, OptOut)


@asynccontextmanager
async def sms_stack(db: Database, **extra: object) -> AsyncIterator[Both]:
    """``both_channels`` outside quiet hours whatever the hour; with ``public_url``, Twilio's
    calls to it are forwarded to the loopback port, as a reverse proxy would."""
    async with both_channels(db, **extra) as run:
        await _daytime(run)
        public = str(extra.get("public_url", run.public_url)).rstrip("/")
        run.twilio.forward = {public: f"http://127.0.0.1:{run.stack.port}"}
        yield run


async def _daytime(run: Both) -> None:
    """Move the directory's quiet hours twelve hours away, so routine SMS go out now."""
    async with run.ctx.db.transaction() as session:
        row = await session.get(Setting, "defaults")
        assert row is not None
        start = run.ctx.clock().astimezone(await zone(session)) + timedelta(hours=12)
        end = start + timedelta(hours=1)
        row.value = {**row.value, "quiet_hours": f"{start:%H:%M}-{end:%H:%M}"}
        session.add(row)


async def settled(run: Both) -> None:
    """Wait until nothing in the outbox is on its way and Twilio made every status callback (the
    clock's digests and their SMS fallbacks go out on their own around the test's messages)."""

    async def idle() -> bool:
        now = run.ctx.clock()
        due = and_(
            col(OutboxMessage.status) == "pending", col(OutboxMessage.next_attempt_at) <= now
        )
        waiting = or_(due, col(OutboxMessage.status) == "sending")
        async with run.ctx.db.reading() as session:
            query = select(func.count()).select_from(OutboxMessage).where(waiting)
            left = (await session.exec(query)).one()
        return left == 0 and all(d.idle for d in run.stack.dispatchers)

    await eventually(idle)
    await run.twilio.settle()


async def text(
    run: Both, phone: str, to: str, body: str, *, sid: str | None = None, public: str | None = None
) -> Reply:
    """``phone`` texts ``to`` through the stack's port, signed for ``public`` (else loopback)."""
    url = f"http://127.0.0.1:{run.stack.port}/twilio/sms"
    return await run.twilio.text(
        phone, to, body, url=url, public_url=f"{public}/twilio/sms" if public else None, sid=sid
    )


async def snapshot(db: Database, phones: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a Twilio webhook could write to; of the outbox, the messages to
    ``phones`` (the clock's digests come and go on their own)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    async with db.reading() as session:
        for model in WATCHED:
            query = select(model)
            if model is OutboxMessage:
                query = query.where(col(OutboxMessage.address).in_(phones))
            rows: list[SQLModel] = list((await session.exec(query)).all())
            tables[model.__name__] = sorted((r.model_dump() for r in rows), key=repr)
    return tables


async def outbox_to(db: Database, phone: str) -> list[OutboxMessage]:
    """The outbox rows for ``phone``, oldest first."""
    async with db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.address == phone)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def cases(db: Database) -> list[Case]:
    """Every case, by number."""
    async with db.reading() as session:
        return list((await session.exec(select(Case).order_by(col(Case.number)))).all())


async def case(db: Database, number: int) -> Case:
    """Case ``number`` as stored."""
    async with db.reading() as session:
        found = await session.get(Case, number)
    assert found is not None
    return found


async def events(db: Database, number: int | None = None) -> list[str]:
    """The event kinds of one case (or of all), in order."""
    async with db.reading() as session:
        query = select(CaseEvent.kind).order_by(col(CaseEvent.id))
        if number is not None:
            query = query.where(CaseEvent.case_number == number)
        return list((await session.exec(query)).all())
