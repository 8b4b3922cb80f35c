"""Service levels, timezone and escalation chain as the loaded directory set them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.calendar import china
from bot.services.unit.context import ServiceContext, Unit
from core.access import MANAGING_ROLES, may_hold, routed_to
from core.directory import LevelOverrides
from core.policy import (
    DEFAULT_LEVELS,
    QuietHours,
    ServiceLevels,
    WorkCalendar,
    defer_for_quiet_hours,
)
from db import queries
from db.directory_cache import DirectorySnapshot, directory
from db.models import Person

DEFAULT_CHAIN = ("manager", "supervisor", "staff")
DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Policy:
    """What the directory says about time: the zone, the chain, and a category's levels."""

    tz: ZoneInfo
    chain: tuple[str, ...]
    levels: ServiceLevels
    # The days ``working_days`` counts: China's, with its holidays and make-up working days.
    calendar: WorkCalendar = field(default_factory=china)


def _overrides(stored: object) -> dict[str, object]:
    """Stored file-form overrides ("48h", "22:00-07:00") as ``ServiceLevels`` values."""
    overrides = LevelOverrides.model_validate(stored).as_overrides()
    quiet = overrides.get("quiet_hours")
    if isinstance(quiet, tuple):
        overrides["quiet_hours"] = QuietHours(*quiet)
    return overrides


async def policy_for(*, session: AsyncSession, category_id: str) -> Policy:
    """The policy for a category: directory defaults with the category's own overrides."""
    return policy_of(await directory(session), category_id)


def policy_of(snapshot: DirectorySnapshot, category_id: str) -> Policy:
    """``policy_for`` from a directory snapshot already read (no I/O: the writer's hot paths)."""
    settings = snapshot.settings
    category = snapshot.categories.get(category_id)
    levels = DEFAULT_LEVELS.with_overrides(_overrides(settings.get("defaults", {})))
    if category is not None:
        levels = levels.with_overrides(_overrides(category.overrides))
    chain = settings.get("escalation", DEFAULT_CHAIN)
    zone_name = settings.get("timezone", DEFAULT_TIMEZONE)
    return Policy(tz=ZoneInfo(zone_name), chain=tuple(chain), levels=levels)


async def zone(session: AsyncSession) -> ZoneInfo:
    """The directory's local time zone."""
    name = await queries.get_setting(session=session, key="timezone", default=DEFAULT_TIMEZONE)
    return ZoneInfo(name)


async def local_zone(ctx: ServiceContext) -> ZoneInfo:
    """The directory's time zone."""
    async with ctx.db.reading() as session:
        return await zone(session)


async def quiet_until(ctx: ServiceContext) -> datetime | None:
    """Inside the directory's quiet hours: when they end; else None."""
    async with ctx.db.reading() as session:
        defaults = await queries.get_setting(session=session, key="defaults", default={})
        tz = await zone(session)
    quiet = DEFAULT_LEVELS.with_overrides(_overrides(defaults)).quiet_hours
    now = ctx.clock()
    end = defer_for_quiet_hours(now, quiet=quiet, tz=tz, urgent=False)
    return end if end != now else None


async def quiet_now(ctx: ServiceContext) -> bool:
    """True inside the directory's quiet hours (Telegram then sends non-urgent news silently)."""
    return await quiet_until(ctx) is not None


async def digest_time(ctx: ServiceContext) -> tuple[int, int]:
    """When the daily digest goes out, local (hour, minute), from the directory's defaults."""
    async with ctx.db.reading() as session:
        defaults = await queries.get_setting(session=session, key="defaults", default={})
    at = DEFAULT_LEVELS.with_overrides(_overrides(defaults)).digest_at
    return at.hour, at.minute


async def managers_for(unit: Unit, *, community: str, exclude: str | None) -> list[Person]:
    """Who a case of ``community`` may be handed to (``core.access.may_hold``, the rule the
    reassignment itself is checked against): its active managers and supervisors, and those a
    routing rule for it names; managers before supervisors, then by id."""
    routes = await queries.routes(session=unit.session)
    # Only the community's own people and those its rules name can qualify: ask for those alone
    # (a city has thousands of managers), then hold each to the rule itself.
    named = routed_to(routes, community)
    query = (
        select(Person)
        .where(col(Person.active), col(Person.role).in_(MANAGING_ROLES))
        .where(or_(col(Person.community_id) == community, col(Person.id).in_(named)))
        .order_by(col(Person.role), col(Person.id))
    )
    return [
        p
        for p in (await unit.session.exec(query)).all()
        if p.id != exclude and may_hold(p, community=community, routes=routes)
    ]
