"""Apply a validated directory in one transaction: upsert by id, deactivate what has cases.

Loading the same directory twice changes nothing. People and communities missing from a new file
are deleted when nothing refers to them, and deactivated when cases (or their events) do, so the
history stays whole. A deactivated row gives up its addresses (Telegram id, phone) and SMS number,
so a renamed entry may take them over. Residents met on a channel (not from the file) are left
alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.handover import Move, hand_on
from bot.services.directory.bindings import sync_identities
from bot.services.unit.context import ServiceContext
from bot.services.unit.work import unit_of_work
from core.directory import BUILTIN_CATEGORY, Directory, LevelOverrides
from db import directory_cache
from db.models import (
    Case,
    CaseEvent,
    Category,
    Community,
    CommunityStaff,
    Person,
    RoutingRule,
    Setting,
)

_BUILTIN_OTHER = Category(id=BUILTIN_CATEGORY, name_zh="其他", name_en="Other", position=10_000)
# Unique values a retired row must release, per table, so another entry can hold them (people's
# addresses are identities: ``directory_identities`` keeps them).
_IDENTITIES: dict[type[Any], tuple[str, ...]] = {Community: ("sms_number",)}


@dataclass(slots=True)
class LoadSummary:
    """What a load changed, counted per kind of change ("added", "updated", …)."""

    counts: Counter[str] = field(default_factory=Counter)
    # Open cases of people the load retired, handed on in its transaction.
    moves: Sequence[Move] = ()
    # The database already held this very file: it was neither read nor loaded again.
    same_file: bool = False

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return any(n for kind, n in self.counts.items() if kind != "unchanged")


def _overrides(model: LevelOverrides) -> dict[str, Any]:
    """Service-level keys in file form ("48h"), as ``LevelOverrides`` reads them back."""
    keys = LevelOverrides.model_fields.keys()
    return model.model_dump(mode="json", exclude_unset=True, include=set(keys))


def _upsert(
    session: AsyncSession,
    row: Any,
    values: dict[str, Any],
    summary: LoadSummary,
    *,
    touched: bool = False,
) -> None:
    """Set ``values`` on a row; count it updated when anything differs or was ``touched``."""
    changed = {k: v for k, v in values.items() if getattr(row, k) != v}
    for key, value in changed.items():
        setattr(row, key, value)
    summary.counts["updated" if changed or touched else "unchanged"] += 1
    session.add(row)


async def _sync(
    session: AsyncSession,
    model: type[Any],
    wanted: dict[str, dict[str, Any]],
    *,
    existing: Iterable[Any],
    in_use: set[str],
    summary: LoadSummary,
    touched: Iterable[str] = (),
) -> None:
    """Make the rows of ``model`` match ``wanted`` (id -> values); retire the rest. Rows in
    ``touched`` changed elsewhere (their addresses) and count as updated."""
    current = {row.id: row for row in existing}
    released: set[str] = set(touched)
    for row_id, row in current.items():
        if row_id not in wanted:
            await _retire(session, row, in_use=row_id in in_use, summary=summary)
        elif _release_moved(row, wanted[row_id]):
            released.add(row_id)
    await session.flush()  # released identities must be free before an entry takes them
    for row_id, values in wanted.items():
        row = current.get(row_id)
        if row is None:
            session.add(model(id=row_id, **values))
            summary.counts["added"] += 1
        else:
            values = {**values, "active": True}
            _upsert(session, row, values, summary, touched=row_id in released)


def _release_moved(row: Any, values: dict[str, Any]) -> bool:
    """Let go of the unique identities ``values`` change (another entry may take them)."""
    moved = [n for n in _IDENTITIES.get(type(row), ()) if getattr(row, n) != values[n]]
    for name in moved:
        setattr(row, name, None)
    return bool(moved)


async def _retire(session: AsyncSession, row: Any, *, in_use: bool, summary: LoadSummary) -> None:
    """Delete a row nothing refers to; deactivate one in use, releasing its unique identities."""
    if not in_use:
        await session.delete(row)
        summary.counts["deleted"] += 1
        return
    held = {name: None for name in _IDENTITIES.get(type(row), ()) if getattr(row, name) is not None}
    if row.active:
        summary.counts["deactivated"] += 1
    elif held:
        summary.counts["updated"] += 1
    for name, value in {**held, "active": False}.items():
        setattr(row, name, value)
    session.add(row)


def _people(directory: Directory, known: dict[str, Person]) -> dict[str, dict[str, Any]]:
    """The people rows the file asks for. Where the file names no language, what the person
    chose themselves (a /lang choice) is kept."""
    wanted: dict[str, dict[str, Any]] = {}
    for p in directory.people:
        before = known.get(p.id)
        wanted[p.id] = {
            "name": p.name,
            "role": p.role,
            "language": p.language or (before.language if before is not None else None),
            "supervisor_id": p.supervisor,
            "community_id": p.community,
            "building": p.building,
            "source": "directory",
        }
    return wanted


async def _ids_in_cases(session: AsyncSession, *columns: Any) -> set[str]:
    """Every id that appears in the given case columns."""
    found: set[str] = set()
    for column in columns:
        found.update(v for v in (await session.exec(select(column).distinct())).all() if v)
    return found


async def apply_directory(
    session: AsyncSession, directory: Directory, now: datetime, *, file: str | None = None
) -> LoadSummary:
    """Make the tables match ``directory`` within the caller's transaction; ``file`` is the
    fingerprint of the file it was read from (``holds_file`` then knows it)."""
    summary = LoadSummary()
    readdressed = await sync_identities(session, directory, now)
    communities = (await session.exec(select(Community))).all()
    await _sync(
        session,
        Community,
        {
            c.id: {
                "name_zh": c.name.zh,
                "name_en": c.name.en,
                "sms_number": c.sms_number,
                "buildings": list(c.buildings),
            }
            for c in directory.communities
        },
        existing=communities,
        in_use=await _ids_in_cases(session, Case.community_id),
        summary=summary,
    )
    await session.flush()  # a freed sms_number must be gone before another community takes it
    people = (await session.exec(select(Person).where(Person.source == "directory"))).all()
    await _sync(
        session,
        Person,
        _people(directory, {p.id: p for p in people}),
        existing=people,
        in_use=await _ids_in_cases(session, Case.resident_id, Case.manager_id, CaseEvent.actor_id),
        summary=summary,
        touched=readdressed,
    )
    wanted_categories = {
        c.id: {
            "name_zh": c.name.zh,
            "name_en": c.name.en,
            "keywords": list(c.keywords),
            "overrides": _overrides(c),
            "replies": c.replies.stored(),
            "position": index,
        }
        for index, c in enumerate(directory.categories)
    }
    if BUILTIN_CATEGORY not in wanted_categories:
        other = _BUILTIN_OTHER
        wanted_categories[other.id] = {
            "name_zh": other.name_zh,
            "name_en": other.name_en,
            "keywords": [],
            "overrides": {},
            "replies": {},
            "position": other.position,
        }
    await _sync(
        session,
        Category,
        wanted_categories,
        existing=(await session.exec(select(Category))).all(),
        in_use=await _ids_in_cases(session, Case.category_id),
        summary=summary,
    )
    await _replace_links(session, directory, summary)
    await directory_cache.new_version(session, file=file)
    return summary


async def _replace_links(session: AsyncSession, directory: Directory, summary: LoadSummary) -> None:
    """Staff lists, routing rules and settings: replaced whole, written only when they differ."""
    staff = {(c.id, p) for c in directory.communities for p in c.staff}
    current_staff = {
        (s.community_id, s.person_id) for s in (await session.exec(select(CommunityStaff))).all()
    }
    if staff != current_staff:
        await session.exec(delete(CommunityStaff))
        session.add_all(CommunityStaff(community_id=c, person_id=p) for c, p in sorted(staff))
        summary.counts["staff"] += 1
    rules = [(r.community, r.category, r.manager) for r in directory.routing]
    current_rules = [
        (r.community, r.category, r.manager_id)
        for r in (await session.exec(select(RoutingRule).order_by(col(RoutingRule.position))))
    ]
    if rules != current_rules:
        await session.exec(delete(RoutingRule))
        session.add_all(
            RoutingRule(position=i, community=c, category=k, manager_id=m)
            for i, (c, k, m) in enumerate(rules)
        )
        summary.counts["routing"] += 1
    settings = {
        "timezone": directory.timezone,
        "defaults": _overrides(directory.defaults),
        "escalation": list(directory.escalation),
    }
    for key, value in settings.items():
        row = await session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=value))
            summary.counts["settings"] += 1
        elif row.value != value:
            row.value = value
            session.add(row)
            summary.counts["settings"] += 1


async def holds_file(ctx: ServiceContext, file: str) -> bool:
    """True when the file of fingerprint ``file`` was the last one loaded and nothing has changed
    the directory since: a load of it may be skipped."""
    async with ctx.db.reading() as session:
        return await directory_cache.holds_file(session, file)


async def load_directory(
    ctx: ServiceContext, directory: Directory, *, file: str | None = None
) -> LoadSummary:
    """Apply ``directory`` (read from the file of fingerprint ``file``, if from one) and hand on
    the open cases of whoever it retires, in one transaction (all or nothing)."""
    async with unit_of_work(ctx) as unit:
        summary = await apply_directory(unit.session, directory, unit.now, file=file)
        summary.moves = await hand_on(unit, directory)
        return summary
