"""A resident's report: the case, its route, its deadlines and the first messages, in one go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import photos
from bot.services.cases.announce import announce
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import NewPhoto
from bot.services.cases.routing import Policy, policy_for
from bot.services.cases.scene import Scene
from bot.services.unit import limits
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.work import unit_of_work
from core import sms as grammar
from core.cases import Channel, EventKind, Status
from core.clean import MAX_DESCRIPTION, cap, clean
from core.directory import BUILTIN_CATEGORY
from core.due import next_due_at
from core.places import building_in, location_in
from core.policy import deadlines
from core.routing import route
from db import queries
from db.directory_cache import DirectorySnapshot, directory
from db.models import Case, CaseEvent, Category, Community, Person

MAX_LOCATION = 200
CUT_NOTICE = "report.description_cut"  # told first when the description was cut to fit


@dataclass(frozen=True, slots=True)
class NewReport:
    """What the resident told us."""

    community_id: str
    category_id: str
    description: str
    location: str = ""
    photos: tuple[NewPhoto, ...] = ()
    # How much of the description is kept: Open311 clients may send the spec's 4,000 characters.
    limit: int = MAX_DESCRIPTION
    photos_refused: int = 0  # photos sent with it that could not be taken (the resident is told)


async def report(
    ctx: ServiceContext,
    *,
    resident_id: str,
    channel: str,
    new: NewReport,
    inbound: Inbound | None = None,
) -> Case:
    """Open a case for ``resident_id`` and route it; refuse an unknown place or an empty text."""
    async with unit_of_work(ctx, inbound) as unit:
        return await open_case(unit, resident_id=resident_id, channel=channel, new=new)


async def open_case(unit: Unit, *, resident_id: str, channel: str, new: NewReport) -> Case:
    """``report`` within a transaction the caller holds (a guided report ends with its draft)."""
    session, now = unit.session, unit.now
    community = await queries.get_community(session=session, community_id=new.community_id)
    category = await queries.get_category(session=session, category_id=new.category_id)
    resident = await queries.get_person(session=session, person_id=resident_id)
    admitted = admissible(new, community, category, resident)
    description, cut = admitted.description, admitted.cut
    community, category, resident = admitted.community, admitted.category, admitted.resident
    # Limits hold back people writing in; staff or the command line filing for them are not.
    limited = unit.inbound is not None and limits.applies_to(resident)
    if limited and await limits.too_many_cases(unit, resident, unit.limits):
        raise Limited()
    policy = await policy_for(session=session, category_id=category.id)
    manager_id = await _route(session, community.id, category.id)
    opened = Opened(community, category, resident.id, channel)
    case = new_case(now, opened, new, description, policy, manager_id)
    session.add(case)
    await session.flush()
    assert case.number is not None
    photos.keep(session, case.number, new.photos, now)
    if cut and unit.inbound is not None:
        # Said before the receipt, so the receipt's excerpt reads as what was kept.
        params = {"limit": new.limit}
        await unit.outbox.tell(resident, CUT_NOTICE, key=unit.key(), params=params)
    events = report_events(case)
    session.add_all(events)
    await session.flush()
    parties = await load_parties(session=session, case=case)
    scene = Scene(case, community, category, policy.tz, policy.chain, policy.levels.urgent)
    await announce(unit.outbox, scene, events, before=None, after=parties)
    if new.photos_refused and unit.inbound is not None:
        params = {"count": new.photos_refused, "limit": photos.MAX_FETCHED}
        await unit.outbox.tell(resident, "report.photos_refused", key=unit.key(), params=params)
    return case


@dataclass(frozen=True, slots=True)
class Admitted:
    """A report that may open a case: its description as kept (``cut`` when shortened to fit),
    its community, category and resident."""

    description: str
    cut: bool
    community: Community
    category: Category
    resident: Person


def admissible(
    new: NewReport,
    community: Community | None,
    category: Category | None,
    resident: Person | None,
) -> Admitted:
    """The one admission rule for a new report, on the general path and the hot path alike: what
    is admitted, or a refusal saying why (an empty text, a community or category unknown or
    retired, a resident who is not active)."""
    # Cleaned here: the command line, Open311 and every channel file cases through this door.
    description, cut = cap(clean(new.description), new.limit)
    if not description:
        raise ServiceRefusal("refused.empty_description")
    if community is None or not community.active:
        raise ServiceRefusal("refused.unknown_community", {"community": new.community_id})
    if category is None or not category.active:
        raise ServiceRefusal("refused.unknown_category", {"category": new.category_id})
    if resident is None or not resident.active:
        raise ServiceRefusal("refused.not_entitled")
    return Admitted(description, cut, community, category, resident)


def new_case(
    now: datetime,
    opened: Opened,
    new: NewReport,
    description: str,
    policy: Policy,
    manager_id: str | None,
    make: Callable[..., Case] = Case,
) -> Case:
    """The case row a report opens — text, place, route, deadlines — not stored yet (no I/O:
    the writer's hot paths make theirs here too, with ``make`` building an untracked row)."""
    location = clean(new.location) or location_in(description, opened.community.buildings)
    ack_due, resolve_due = deadlines(now, policy.levels, tz=policy.tz, calendar=policy.calendar)
    status = Status.ASSIGNED if manager_id else Status.UNASSIGNED
    return make(
        status=status.value,
        community_id=opened.community.id,
        category_id=opened.category.id,
        location=location[:MAX_LOCATION],
        # As the offer reads a new report's place: its place, else its words (``building_in``
        # also knows a building the directory does not list, which ``location_in`` does not).
        building=building_in(clean(new.location) or description, opened.community.buildings),
        description=description,
        channel=opened.channel,
        resident_id=opened.resident_id,
        manager_id=manager_id,
        ack_due_at=ack_due,
        resolve_due_at=resolve_due,
        next_due_at=next_due_at(
            status,
            now=now,
            ack_due_at=ack_due,
            resolve_due_at=resolve_due,
            resolved_at=None,
            levels=policy.levels,
        ),
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class Opened:
    """Where and by whom a case is opened (checked by the caller)."""

    community: Community
    category: Category
    resident_id: str
    channel: str


def report_events(case: Case, make: Callable[..., CaseEvent] = CaseEvent) -> list[CaseEvent]:
    """A new case's first events: reported by its resident, then routed or not (not stored)."""
    assert case.number is not None
    manager_id = case.manager_id
    return [
        make(
            case_number=case.number,
            at=case.created_at,
            kind=EventKind.REPORTED.value,
            actor_id=case.resident_id,
            channel=case.channel,
            note="",
            data={"status": case.status},
        ),
        make(
            case_number=case.number,
            at=case.created_at,
            kind=(EventKind.ROUTED if manager_id else EventKind.UNROUTED).value,
            actor_id=None,
            channel=Channel.SYSTEM.value,
            note="",
            data={"manager": manager_id} if manager_id else {},
        ),
    ]


async def _route(session: AsyncSession, community_id: str, category_id: str) -> str | None:
    """The routed manager, or None when no rule matches or the manager is inactive."""
    return manager_for(await directory(session), community_id, category_id)


def manager_for(snapshot: DirectorySnapshot, community_id: str, category_id: str) -> str | None:
    """``_route`` on a directory snapshot already read (no I/O)."""
    manager_id = route(list(snapshot.routes), community=community_id, category=category_id)
    known = snapshot.people.get(manager_id) if manager_id is not None else None
    return manager_id if known is not None and known[1] else None


async def category_for(unit: Unit, text: str) -> str:
    """The first category (in directory order) with a keyword in the text, else ``other``."""
    return category_in(await directory(unit.session), text)


def category_in(snapshot: DirectorySnapshot, text: str) -> str:
    """``category_for`` on a directory snapshot already read (no I/O)."""
    folded = grammar.normalize(text)
    for category_id, keywords in snapshot.keyword_table:
        if any(k in folded for k in keywords):
            return category_id
    return BUILTIN_CATEGORY
