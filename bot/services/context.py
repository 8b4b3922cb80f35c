"""What every use case needs: the database, the clock, the default language; actors and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import Channel
from db.engine import Database
from db.queries import record_receipt


def utc_now() -> datetime:
    """The real clock (the composition root's default; tests inject their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Dependencies of the use cases, built once by the composition root."""

    db: Database
    clock: Callable[[], datetime] = utc_now
    default_language: str = "zh"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and through which channel; ``person_id`` None is the system."""

    person_id: str | None
    channel: Channel

    @classmethod
    def system(cls) -> Actor:
        """The scheduler acting on the clock's behalf."""
        return cls(None, Channel.SYSTEM)

    @property
    def is_system(self) -> bool:
        """True for the scheduler."""
        return self.person_id is None


@dataclass(slots=True)
class ServiceRefusal(Exception):
    """A use case refused: nothing changed; ``reason`` is a text-catalog key for the actor."""

    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason} {self.params}" if self.params else self.reason


@dataclass(frozen=True, slots=True)
class Inbound:
    """The provider's id of the update that asked for a change (update_id, MessageSid)."""

    source: str
    external_id: str
    sender: str | None = None  # the SMS sender's phone: per-sender limits count receipts


class AlreadyHandled(Exception):
    """This inbound update was handled before; nothing was done again."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One transaction in progress: its session and the moment it happens at."""

    session: AsyncSession
    now: datetime
    default_language: str


@asynccontextmanager
async def unit_of_work(ctx: ServiceContext, inbound: Inbound | None = None) -> AsyncIterator[Unit]:
    """One transaction for one use case; with ``inbound``, a replay raises ``AlreadyHandled``."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        await first_time(session, inbound, now)
        yield Unit(session, now, ctx.default_language)


async def first_time(session: AsyncSession, inbound: Inbound | None, now: datetime) -> None:
    """Record ``inbound`` in this transaction; raise ``AlreadyHandled`` for a replay."""
    if inbound is None:
        return
    if not await record_receipt(
        session=session,
        source=inbound.source,
        external_id=inbound.external_id,
        at=now,
        sender=inbound.sender,
    ):
        raise AlreadyHandled(f"{inbound.source}:{inbound.external_id}")
