"""GET requests: the cases a client asks for, filtered as GeoReport v2 says (ids override the
rest; service codes, a requested-time range of at most 90 days, open or closed), newest first
(by requested time, then number: a total order, so pages neither repeat nor skip), at most 1,000
or one page; each served whole or as published, as the reader may see it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from core.cases import OPEN_STATUSES, TERMINAL
from db import open311 as store
from db import queries
from db.models import Case, CaseEvent

from .describe import NOT_STEPS, Context, published, service_request
from .directory_view import describing_context
from .keys import Key
from .params import Page

MAX_RESULTS = 1000
TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads: the communities whose requests they see whole (None: every community; empty:
    none, as for a reader without a key), and whether closed requests are public to anyone
    (``OPEN311_PUBLIC_READ``). The rest they see as published."""

    whole: tuple[str, ...] | None
    closed_public: bool = False

    def sees_whole(self, case: Case) -> bool:
        """True when this reader is served all of ``case``."""
        if self.whole is None or case.community_id in self.whole:
            return True
        return self.closed_public and case.status in TERMINAL_VALUES


@dataclass(frozen=True, slots=True)
class Wanted:
    """Which requests: ``numbers`` (overrides the other filters), ``codes``, the requested-time
    range, ``state`` "open"/"closed" (None: both); always within ``communities`` (None: any)."""

    start: datetime | None = None
    end: datetime | None = None
    numbers: tuple[int, ...] | None = None
    codes: tuple[str, ...] | None = None
    state: str | None = None
    communities: tuple[str, ...] | None = None
    only_closed: bool = False  # a search without a key: closed requests only
    page: Page | None = None  # None: the first MAX_RESULTS


def reader_for(key: Key | None, *, closed_public: bool) -> Reader:
    """What ``key`` sees whole: its communities (every one for a key limited to none); without a
    key, closed requests when ``closed_public``, else nothing."""
    return Reader((key.communities or None) if key is not None else (), closed_public)


def _statuses(state: str | None) -> list[str] | None:
    if state == "open":
        return [s.value for s in OPEN_STATUSES]
    if state == "closed":
        return [s.value for s in TERMINAL]
    return None


async def find_requests(
    ctx: ServiceContext, wanted: Wanted, reader: Reader, language: str
) -> list[dict[str, Any]]:
    """The service requests ``wanted`` names, described in ``language`` as ``reader`` may see
    them."""
    query = select(Case)
    if wanted.numbers is not None:
        query = query.where(col(Case.number).in_(list(wanted.numbers)))
    else:
        if wanted.start is not None:
            query = query.where(col(Case.created_at) >= wanted.start)
        if wanted.end is not None:
            query = query.where(col(Case.created_at) <= wanted.end)
        if wanted.codes is not None:
            query = query.where(col(Case.category_id).in_(list(wanted.codes)))
        statuses = _statuses(wanted.state)
        if statuses is not None:
            query = query.where(col(Case.status).in_(statuses))
    if wanted.communities is not None:
        query = query.where(col(Case.community_id).in_(list(wanted.communities)))
    if wanted.only_closed:
        query = query.where(col(Case.status).in_([s.value for s in TERMINAL]))
    query = query.order_by(col(Case.created_at).desc(), col(Case.number).desc())
    if wanted.page is None:
        query = query.limit(MAX_RESULTS)
    else:
        query = query.offset(wanted.page.offset).limit(wanted.page.size)
    async with ctx.db.reading() as session:
        cases = list((await session.exec(query)).all())
        at = await describing_context(session, language)
        described = await _described(session, cases, at)
    pairs = zip(cases, described, strict=True)
    return [whole if reader.sees_whole(case) else published(whole) for case, whole in pairs]


async def _described(session: Any, cases: Sequence[Case], at: Context) -> list[dict[str, Any]]:
    numbers = [c.number for c in cases if c.number is not None]
    extras = await store.requests_of(session=session, numbers=numbers)
    steps: dict[int, str] = {}
    if numbers:
        query = (
            select(CaseEvent.case_number, CaseEvent.kind)
            .where(col(CaseEvent.case_number).in_(numbers))
            .where(col(CaseEvent.kind).not_in(sorted(NOT_STEPS)))
            .order_by(col(CaseEvent.id))
        )
        for number, kind in (await session.exec(query)).all():
            steps[number] = kind
    ids = {c.resident_id for c in cases} | {c.manager_id for c in cases if c.manager_id}
    people = await queries.people(session=session, ids=sorted(ids))
    described = []
    for case in cases:
        assert case.number is not None
        names = [p.name for i in (case.resident_id, case.manager_id) if (p := people.get(i or ""))]
        described.append(
            service_request(
                case,
                at,
                extra=extras.get(case.number),
                last_step=steps.get(case.number),
                names=names,
            )
        )
    return described
