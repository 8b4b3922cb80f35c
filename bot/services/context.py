"""What every use case needs: the database, the clock, the channels, the limits; actors, refusals
and the unit of work — one transaction per use case, and per inbound message on every channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.cases import Channel
from db.engine import Database
from db.models import Person
from db.queries import record_receipt

from . import identities, limits
from .channels import ChannelBook
from .inbound import AlreadyHandled, Inbound
from .limits import Limited, SenderLimits
from .notify import Outbox, language_of

__all__ = [
    "Actor",
    "AlreadyHandled",
    "Inbound",
    "Limited",
    "ServiceContext",
    "ServiceRefusal",
    "Unit",
    "unit_of_work",
    "utc_now",
]


def utc_now() -> datetime:
    """The real clock (the composition root's default; tests inject their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Dependencies of the use cases, built once by the composition root."""

    db: Database
    clock: Callable[[], datetime] = utc_now
    default_language: str = "zh"
    channels: ChannelBook = field(default_factory=ChannelBook)
    limits: SenderLimits = field(default_factory=SenderLimits)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, and through which channel; ``person_id`` None is the system."""

    person_id: str | None
    channel: str

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
    # The language of the person refused, once known (a channel showing the refusal itself).
    language: str | None = None

    def __str__(self) -> str:
        return f"{self.reason} {self.params}" if self.params else self.reason


@dataclass(slots=True)
class Unit:
    """One transaction in progress: its session, the moment it happens at, the outbox of its
    messages and, for an inbound message, who sent it (resolved inside this transaction)."""

    session: AsyncSession
    now: datetime
    default_language: str
    outbox: Outbox
    limits: SenderLimits
    inbound: Inbound | None = None
    sender: Person | None = None

    @property
    def channels(self) -> ChannelBook:
        """The channels of this process."""
        return self.outbox.book

    def actor(self) -> Actor:
        """The sender as the actor of a change, on the channel they wrote on."""
        assert self.sender is not None
        assert self.inbound is not None
        return Actor(self.sender.id, self.inbound.channel)

    def key(self, prefix: str = "reply") -> str:
        """The outbox key of what this unit says (a replayed inbound says nothing twice)."""
        ident = self.inbound.key if self.inbound else self.now.isoformat()
        return f"{prefix}:{ident}"


@asynccontextmanager
async def unit_of_work(ctx: ServiceContext, inbound: Inbound | None = None) -> AsyncIterator[Unit]:
    """One transaction for one use case.

    With ``inbound``: a replay raises ``AlreadyHandled``; the sender is resolved (a stranger
    becomes a resident) and held to the limits; a refusal of the work rolls the work back but
    keeps the message's receipt and the answer that says why, so the message is handled once.
    """
    now = ctx.clock()
    raised: BaseException | None = None
    async with ctx.db.transaction() as session:
        outbox = Outbox(session, now, ctx.default_language, ctx.channels, inbound)
        unit = Unit(session, now, ctx.default_language, outbox, ctx.limits, inbound)
        if inbound is None:
            yield unit
            return
        if not await record_receipt(
            session=session,
            source=inbound.channel,
            external_id=inbound.external_id,
            at=now,
            sender=inbound.address or None,
        ):
            raise AlreadyHandled(inbound.key)
        if inbound.address:
            unit.sender = await identities.sender_of(unit, inbound)
            outbox.sender_id = unit.sender.id
        savepoint = await session.begin_nested()
        try:
            limited = unit.sender is not None and limits.applies_to(unit.sender)
            if limited and await limits.too_many_messages(unit, inbound, ctx.limits):
                raise Limited()
            yield unit
        except (ServiceRefusal, Limited) as refused:
            raised = refused
            if savepoint.is_active:
                await savepoint.rollback()
            unit.outbox.rolled_back()
            if unit.sender is not None:
                await session.refresh(unit.sender)
            await _answer_refusal(unit, refused)
        else:
            if savepoint.is_active:
                await savepoint.commit()
    if raised is not None:
        raise raised


async def _answer_refusal(unit: Unit, refused: BaseException) -> None:
    """Tell the sender why nothing was done (once per window for a limit)."""
    sender, inbound = unit.sender, unit.inbound
    if sender is None or inbound is None:
        return
    if isinstance(refused, Limited):
        if not await limits.noticed(unit, sender, unit.limits):
            await unit.outbox.tell(sender, limits.NOTICE, key=unit.key())
        return
    assert isinstance(refused, ServiceRefusal)
    refused.language = language_of(sender, unit.default_language)
    if not inbound.refusal_aside:
        await unit.outbox.tell(sender, refused.reason, key=unit.key(), params=refused.params)
