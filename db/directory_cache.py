"""The directory's structure held in memory, checked against its version once per transaction.

Communities, categories, routing, service-level settings, the staff of each community and who
supervises whom change only when a directory file is loaded; a report used to read them again,
row by row, about ten statements each time. ``apply_directory`` writes the version of what it
leaves (a digest of the structure); a transaction that needs the directory reads that one value
and, when another process (or this one) loaded a different directory, reads the structure again
in that same transaction.

People's own rows (Telegram binding, language, reachability) change outside a directory load
and are never cached here.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.routing import Route
from db.models import Category, Community, CommunityStaff, Person, RoutingRule, Setting

VERSION_KEY = "directory_version"
# The directory file the last load read (its fingerprint: ``bot.directory_file.fingerprint``) and
# the version that load left: ``run`` does not read a 14 MB file again when nothing has moved since.
FILE_KEY = "directory_file"
# The settings a directory load writes; other rows of the table (the clock's leases) change
# all the time and are always read from the database.
DIRECTORY_SETTINGS = ("timezone", "defaults", "escalation")
_INFO_KEY = "wolaiban_directory"
_CHECKED_KEY = "wolaiban_directory_checked"
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class DirectorySnapshot:
    """The directory's structure as of one version. Its rows are shared: read them only."""

    version: str | None
    settings: dict[str, Any]
    communities: dict[str, Community]
    categories: dict[str, Category]
    routes: tuple[Route, ...]
    staff: dict[str, tuple[str, ...]]
    # Directory people: id -> (supervisor id, active).
    people: dict[str, tuple[str | None, bool]]
    # The active categories in the directory's order, each with its keywords casefolded: worked
    # out once per snapshot, not once per report (the scan casefolded every keyword each time).
    keyword_table: tuple[tuple[str, tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )
    # The active communities by their own SMS number (the first by id where two share one): a
    # report looked this up three times, sorting every community each time.
    by_number: dict[str, Community] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = tuple(
            (c.id, tuple(k.casefold() for k in c.keywords if k.strip()))
            for c in self.active_categories()
        )
        numbers: dict[str, Community] = {}
        for community in self.active_communities():
            if community.sms_number:
                numbers.setdefault(community.sms_number, community)
        # frozen: these are set once, here
        object.__setattr__(self, "keyword_table", table)
        object.__setattr__(self, "by_number", numbers)

    def supervisor_chain(self, manager_id: str | None) -> list[str]:
        """Active supervisors above a manager, nearest first; a loop is cut at the first repeat."""
        chain: list[str] = []
        current = self.people.get(manager_id) if manager_id else None
        while current is not None and current[0] and current[0] not in chain:
            above = current[0]
            current = self.people.get(above)
            if current is None or above == manager_id:
                break
            chain.append(above)
        return [p for p in chain if self.people[p][1]]

    def digest(self) -> str:
        """A fingerprint of everything held here."""
        content = {
            "settings": self.settings,
            "communities": [c.model_dump() for _, c in sorted(self.communities.items())],
            "categories": [c.model_dump() for _, c in sorted(self.categories.items())],
            "routes": self.routes,
            "staff": sorted(self.staff.items()),
            "people": sorted(self.people.items()),
        }
        encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()[:32]

    def active_categories(self) -> list[Category]:
        """The categories a resident may choose, in the directory's order."""
        return sorted((c for c in self.categories.values() if c.active), key=lambda c: c.position)

    def active_communities(self) -> list[Community]:
        """The communities taking reports, by id."""
        return sorted((c for c in self.communities.values() if c.active), key=lambda c: c.id)

    def community_by_number(self, number: str) -> Community | None:
        """The active community whose own SMS number this is."""
        return self.by_number.get(number)


@dataclass(slots=True)
class DirectoryCache:
    """One process's snapshot of the directory; shared by every session of one ``Database``."""

    snapshot: DirectorySnapshot | None = None

    def session_info(self) -> dict[str, Any]:
        """What every session of the database carries, so queries find the cache."""
        return {_INFO_KEY: self}


async def directory(session: AsyncSession) -> DirectorySnapshot:
    """The directory as this transaction sees it (one read of its version per transaction)."""
    checked = session.info.get(_CHECKED_KEY)
    if isinstance(checked, DirectorySnapshot):
        return checked
    cache = session.info.get(_INFO_KEY)
    version_row = await session.get(Setting, VERSION_KEY)
    version = str(version_row.value) if version_row is not None else None
    snapshot = cache.snapshot if isinstance(cache, DirectoryCache) else None
    if snapshot is None or snapshot.version != version:
        # No version at all is a version too: the directory can only change by a load, and a
        # load writes one.
        snapshot = await _read(session, version)
        if isinstance(cache, DirectoryCache):
            cache.snapshot = snapshot
    session.info[_CHECKED_KEY] = snapshot
    return snapshot


def forget(session: AsyncSession) -> None:
    """This transaction changed the directory: read it again before using it."""
    session.info.pop(_CHECKED_KEY, None)


async def new_version(session: AsyncSession, *, file: str | None = None) -> None:
    """Write the version of the directory as this transaction left it (for every process), and
    the file it came from (``file``: its fingerprint; None for a directory read otherwise)."""
    await session.flush()
    forget(session)
    # The version is a digest of the structure itself: the same directory always has the same
    # version, and a load that changed nothing that is cached writes nothing.
    value = (await _read(session, None)).digest()
    await _put(session, VERSION_KEY, value)
    # Written by every load and every new version: a record left from an older load would
    # vouch for a database that no longer holds that file.
    record = _file_record(file, value)
    if record is not None:
        await _put(session, FILE_KEY, record)
    elif (row := await session.get(Setting, FILE_KEY)) is not None:
        await session.delete(row)


async def holds_file(session: AsyncSession, file: str) -> bool:
    """True when the last load read the file of fingerprint ``file`` and nothing has changed the
    directory's version since."""
    record = await session.get(Setting, FILE_KEY)
    version = await session.get(Setting, VERSION_KEY)
    if record is None or version is None:
        return False
    return bool(record.value == _file_record(file, str(version.value)))


def _file_record(file: str | None, version: str) -> dict[str, str] | None:
    return None if file is None else {"file": file, "version": version}


async def _put(session: AsyncSession, key: str, value: Any) -> None:
    row = await session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    elif row.value != value:
        row.value = value
        session.add(row)


async def _read(session: AsyncSession, version: str | None) -> DirectorySnapshot:
    # A city's directory: 100,000 people, most of them residents with nobody above, and the
    # same buildings and ids over and over. Equal values are held once (one ``(None, True)`` for
    # every such resident, one string per id), not once per row.
    once = _Once()
    settings = {
        row.key: row.value
        for row in (
            await session.exec(select(Setting).where(col(Setting.key).in_(DIRECTORY_SETTINGS)))
        ).all()
    }
    communities = {
        row.id: Community.model_validate(
            {**row.model_dump(), "buildings": [once(b) for b in row.buildings]}
        )
        for row in (await session.exec(select(Community))).all()
    }
    categories = {
        row.id: Category.model_validate(row.model_dump())
        for row in (await session.exec(select(Category))).all()
    }
    rules = (await session.exec(select(RoutingRule).order_by(col(RoutingRule.position)))).all()
    staff: defaultdict[str, list[str]] = defaultdict(list)
    staff_rows = await session.exec(
        select(CommunityStaff.community_id, Person.id)
        .join(Person, col(CommunityStaff.person_id) == col(Person.id))
        .where(col(Person.active))
        .order_by(col(Person.id))
    )
    for community_id, person_id in staff_rows.all():
        staff[once(community_id)].append(once(person_id))
    people_rows = await session.exec(
        select(Person.id, Person.supervisor_id, Person.active).where(Person.source == "directory")
    )
    people = {once(i): once((once(s), bool(a))) for i, s, a in people_rows.all()}
    return DirectorySnapshot(
        version=version,
        settings=settings,
        communities=communities,
        categories=categories,
        routes=tuple(Route(once(r.community), once(r.category), once(r.manager_id)) for r in rules),
        staff={k: tuple(v) for k, v in staff.items()},
        people=people,
    )


class _Once:
    """Each value as the first equal one met (values are never changed: sharing them is safe)."""

    __slots__ = ("_same",)

    def __init__(self) -> None:
        self._same: dict[Any, Any] = {}

    def __call__(self, value: _V) -> _V:
        return cast(_V, self._same.setdefault(value, value))
