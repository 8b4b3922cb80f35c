"""What the case list's filters offer a reader — communities, categories, holders, and the
managers the bulk reassignment hands cases to — each as a list, or, past ``MANY`` options (a
district office reads 7,000 communities and 21,000 people), as a type-ahead: the matches of what
was typed, and the one option a typed id or exact name stands for. Never more than the reader may
filter by. Read only."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.staff.filters import Filters
from bot.services.staff.listing import Viewer, visible
from bot.services.staff.queue import per_directory
from bot.services.unit.context import ServiceContext
from core.access import MANAGING_ROLES, may_hold
from core.clean import clean
from core.routing import ANY
from db.directory_cache import DirectorySnapshot, directory
from db.models import Case, Person
from db.search import like_pattern

MANY = 200  # past this many options a filter is typed into: a list of thousands is megabytes
MATCHES = 20  # what a type-ahead suggests at a time
MAX_TYPED = 64  # as long as an id from a URL (filters._word)
CANDIDATES = 200  # people read for one typed query before the holder rule narrows them
HOLDING = ("manager", "supervisor", "staff")
LEADING = tuple(sorted(MANAGING_ROLES))
KINDS = ("communities", "holders", "managers")  # the type-ahead's; the filter field of each:
FIELDS = {"communities": "community", "holders": "holder", "managers": "manager"}

Option = tuple[str, str, str]  # id, Chinese name, English name


@dataclass(frozen=True, slots=True)
class Offered:
    """The filters' options: each kind's whole list, or None where there are more than ``MANY``
    (a type-ahead then); and, for a typed filter, the option it names (``chosen``) or why none
    (``problems``: a catalog key), by field — that filter then left out of ``filters``."""

    communities: list[Option] | None
    categories: list[Option]
    holders: list[Option] | None
    managers: list[Option] | None
    filters: Filters
    chosen: dict[str, Option] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def typed(text: str) -> str:
    """What was typed into a type-ahead, bounded and normalised as every input is."""
    return clean(text)[:MAX_TYPED]


async def offered(ctx: ServiceContext, viewer: Viewer, filters: Filters) -> Offered:
    """The options of the list's filters for ``viewer``; a filter typed into (a name or an id)
    read as the id it stands for."""
    async with ctx.db.reading() as session:
        known = await directory(session)
        communities = _communities(known, viewer)
        categories = [(c.id, c.name_zh, c.name_en) for c in known.categories.values() if c.active]
        rule = _rule(known, viewer)
        holders, managers = await _listed(session, known, viewer, rule)
        chosen: dict[str, Option] = {}
        problems: dict[str, str] = {}
        values = {"community": filters.community, "holder": filters.holder}
        typed_into = {"community": len(communities) > MANY, "holder": holders is None}
        for name, value in values.items():
            if value and typed_into[name]:
                found = await _chosen(session, known, viewer, name, value, rule)
                if isinstance(found, str):
                    problems[name], values[name] = found, ""
                else:
                    chosen[name], values[name] = found, found[0]
    return Offered(
        None if typed_into["community"] else communities,
        categories,
        holders,
        managers,
        replace(filters, community=values["community"], holder=values["holder"]),
        chosen,
        problems,
    )


async def _listed(
    session: AsyncSession, known: DirectorySnapshot, viewer: Viewer, rule: Callable[[Person], bool]
) -> tuple[list[Option] | None, list[Option] | None]:
    """The holder filter's options and the bulk reassignment's managers, each None when there
    are more than ``MANY`` — known from the directory without reading anyone where it can be."""
    holding, leading = _at_least(known, viewer)
    people = await _people(session, viewer, rule) if holding <= MANY else None
    leaders: list[Person] | None = []  # only staff reassign from the list
    if people is not None:
        leaders = [p for p in people if p.role in MANAGING_ROLES]
    elif viewer.role == "staff":
        many = leading > MANY
        leaders = None if many else await _people(session, viewer, rule, roles=LEADING)
    holders = _options(people) if people is not None and len(people) <= MANY else None
    managers = _named(known, leaders) if leaders is not None and len(leaders) <= MANY else None
    return holders, managers


async def matches(ctx: ServiceContext, viewer: Viewer, kind: str, text: str) -> list[Option]:
    """Up to ``MATCHES`` options of ``kind`` whose id or name holds ``text`` — those matching
    whole first, then those beginning with it, each by id; none for nothing typed."""
    wanted = typed(text).casefold()
    if not wanted or kind not in KINDS or (kind == "managers" and viewer.role != "staff"):
        return []
    async with ctx.db.reading() as session:
        known = await directory(session)
        if kind == "communities":
            found = [o for o in _communities(known, viewer) if _holds(o, wanted)]
        else:
            roles = LEADING if kind == "managers" else HOLDING
            near, first = _typed_people(wanted)
            people = await _people(
                session,
                viewer,
                _rule(known, viewer),
                roles=roles,
                where=near,
                limit=CANDIDATES,
                first=first,
            )
            found = _named(known, people) if kind == "managers" else _options(people)
    found.sort(key=lambda o: (_rank(o, wanted), o[0]))
    return found[:MATCHES]


async def community_names(ctx: ServiceContext, viewer: Viewer, language: str) -> dict[str, str]:
    """The names in ``language`` of the communities the reader may filter by, by id."""
    async with ctx.db.reading() as session:
        known = await directory(session)
    english = language == "en"
    return {i: (en if english else zh) for i, zh, en in _communities(known, viewer)}


def _typed_people(wanted: str) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """People whose name or id holds ``wanted`` (casefolded), and their order: whole, then
    beginning with it, then the rest — so that the ``CANDIDATES`` read are the best ones."""
    anywhere = like_pattern(wanted)
    names = (col(Person.name), col(Person.id))
    whole = or_(*(func.lower(n) == wanted for n in names))
    begins = or_(*(n.ilike(anywhere[1:], escape="\\") for n in names))
    near = or_(*(n.ilike(anywhere, escape="\\") for n in names))
    return near, case((whole, 0), (begins, 1), else_=2)


def _holds(option: Option, wanted: str) -> bool:
    return any(wanted in part.casefold() for part in option)


def _rank(option: Option, wanted: str) -> int:
    """0: the id or a name is what was typed; 1: begins with it; 2: holds it."""
    parts = [part.casefold() for part in option]
    if wanted in parts:
        return 0
    return 1 if any(part.startswith(wanted) for part in parts) else 2


def _communities(known: DirectorySnapshot, viewer: Viewer) -> list[Option]:
    """The communities the reader may filter by: staff their own; managers and supervisors
    every one (as before the type-ahead)."""
    every: list[Option] = per_directory(
        known,
        "community options",
        lambda: [(c.id, c.name_zh, c.name_en) for c in known.communities.values()],
    )
    if viewer.role != "staff" or viewer.everywhere:
        return every
    mine = set(viewer.communities)  # a district office staffs thousands: not a tuple scan
    return [o for o in every if o[0] in mine]


def _options(people: Iterable[Person]) -> list[Option]:
    return [(p.id, p.name, p.name) for p in people]


def _named(known: DirectorySnapshot, people: Iterable[Person]) -> list[Option]:
    """``people`` each with their community's name (whom the bulk reassignment offers)."""
    suffixes = per_directory(
        known,
        "suffixes",
        lambda: {c.id: (f" · {c.name_zh}", f" · {c.name_en}") for c in known.communities.values()},
    )
    found = []
    for p in people:
        zh, en = suffixes.get(p.community_id or "", ("", ""))
        found.append((p.id, p.name + zh, p.name + en))
    return found


def _at_least(known: DirectorySnapshot, viewer: Viewer) -> tuple[int, int]:
    """At least how many holders, and how many managers and supervisors among them, the reader's
    filters would offer — counted in the directory held in memory, so that a district office's
    page never reads 21,000 people to learn there are too many to list (a person deactivated
    since the snapshot is still counted: the count only chooses a list or a type-ahead)."""
    if viewer.role == "staff":
        staff, named = _near(known, viewer.communities)
        leaders = sum(1 for i in named if known.people.get(i, (None, False))[1])
        return len(staff) + leaders, leaders
    if viewer.role in ("manager", "supervisor"):
        return sum(1 for i in viewer.below if known.people.get(i, (None, False))[1]), 0
    return 0, 0


def _rule(known: DirectorySnapshot, viewer: Viewer) -> Callable[[Person], bool]:
    """Whom the holder filter offers staff — people of the reader's communities only, never
    everyone who manages anywhere: their communities' staff, and the managers and supervisors a
    case there may go to (``core.access.may_hold``); managers and supervisors are offered all
    that ``_people`` reads."""
    if viewer.role != "staff":
        return lambda _: True
    mine = set(viewer.communities)
    staff, named = _near(known, mine)

    def offered(p: Person) -> bool:
        if p.id in staff:
            return True
        community = p.community_id if p.community_id in mine else named.get(p.id)
        return bool(community) and may_hold(p, community=community or "", routes=known.routes)

    return offered


def _near(known: DirectorySnapshot, communities: Iterable[str]) -> tuple[set[str], dict[str, str]]:
    """The staff of ``communities``, and the managers and supervisors their routes name, each
    with the one community to ask ``may_hold`` about — for a district office's 7,000 asking
    it of every (person, community) would take hours, and it can only say yes for the community
    a person lives in or one whose route names them."""
    mine = set(communities)
    staff = {i for c in mine for i in known.staff.get(c, ())}
    named = {
        r.manager_id: next(iter(mine)) if r.community == ANY else r.community
        for r in known.routes
        if r.community in mine or (r.community == ANY and mine)
    }
    return staff, named


async def _people(
    session: AsyncSession,
    viewer: Viewer,
    rule: Callable[[Person], bool],
    *,
    roles: tuple[str, ...] = HOLDING,
    where: ColumnElement[bool] | None = None,
    limit: int | None = None,
    first: ColumnElement[Any] | None = None,
) -> list[Person]:
    """The people of ``roles`` the holder filter offers (``where`` they match; at most ``limit``
    read, ``first`` first, before the rule): staff their communities' staff, managers and
    supervisors; managers and supervisors themselves, the managers below them, and whoever
    holds a case they see."""
    query = (
        select(Person)
        .where(col(Person.active), col(Person.role).in_(roles), true() if where is None else where)
        .order_by(*(() if first is None else (first,)), col(Person.role), col(Person.id))
        .limit(limit)
    )
    if viewer.role == "staff":
        if not viewer.everywhere:  # only those near the reader's communities are read
            staff, named = _near(await directory(session), viewer.communities)
            query = query.where(
                or_(
                    col(Person.community_id).in_(sorted(viewer.communities)),
                    col(Person.id).in_(sorted(staff | set(named))),
                )
            )
        return [p for p in (await session.exec(query)).all() if rule(p)]
    if viewer.role in ("manager", "supervisor"):
        held = select(Case.manager_id).where(visible(viewer), col(Case.manager_id).is_not(None))
        ids = {viewer.person_id, *viewer.below, *(await session.exec(held.distinct())).all()}
        return list((await session.exec(query.where(col(Person.id).in_(sorted(ids))))).all())
    return []


async def _chosen(
    session: AsyncSession,
    known: DirectorySnapshot,
    viewer: Viewer,
    name: str,
    value: str,
    rule: Callable[[Person], bool],
) -> Option | str:
    """The option a typed filter ``name`` stands for — its id, else its one exact name — or why
    none: a catalog key."""
    if name == "community":
        found = _communities(known, viewer)
    else:
        exact = or_(col(Person.id) == value, col(Person.name) == value)
        found = _options(await _people(session, viewer, rule, where=exact))
    by_id = [o for o in found if o[0] == value]
    by_name = [o for o in found if value.casefold() in (o[1].casefold(), o[2].casefold())]
    if by_id or len(by_name) == 1:
        return (by_id or by_name)[0]
    return f"web.typed_{name}_several" if by_name else f"web.typed_{name}_unknown"
