"""The case list's orders walked by key, never by ``OFFSET``: a page after or before a row (the
row's key written into the page's links and read back), and every matching case by number in
bounded windows (the exports)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.services.unit.context import ServiceContext

# Rows an export holds at once: its memory stays this many rows, however many it writes.
BATCH = 2_000

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Phase:
    """One stretch of an order: the rows ``condition`` matches, by ``keys`` (ascending, or all
    descending), each row's key read back by ``key_of``. An order is its phases one after another
    (e.g. the overdue cases, then the others), so each is a range scan that stops at a page."""

    condition: ColumnElement[bool]
    keys: tuple[Any, ...]  # columns or expressions
    descending: bool
    key_of: Callable[[Any], Key]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a page starts: after (or before, ``backwards``) the row of ``phase`` with ``key``."""

    phase: int
    key: Key
    backwards: bool = False


@dataclass(frozen=True, slots=True)
class Walked:
    """A page's rows and their keys, and whether any row comes before or after them."""

    rows: list[Any]
    keys: list[str]
    earlier: bool
    later: bool


def written(phase: int, key: Key) -> str:
    """A row's place as a link carries it: ``phase_value_value`` (a time in ISO 8601)."""
    return "_".join(
        [str(phase), *(v.isoformat() if isinstance(v, datetime) else str(v) for v in key)]
    )


def place(after: str, before: str, phases: Sequence[Phase]) -> Place | None:
    """Where a page starts, by its link's key (``after``, else ``before``); None for the first
    page, which a page number alone (a link from before paging by key) also is."""
    if after:
        return read_place(after, False, phases)
    return read_place(before, True, phases) if before else None


def read_place(text: str, backwards: bool, phases: Sequence[Phase]) -> Place | None:
    """The place ``written`` wrote, or None when ``text`` is not one of these phases' keys."""
    parts = text.split("_")
    try:
        phase = int(parts[0])
        if not 0 <= phase < len(phases) or len(parts) - 1 != len(phases[phase].keys):
            return None
        key = tuple(
            int(p) if p.lstrip("-").isdigit() else datetime.fromisoformat(p) for p in parts[1:]
        )
    except ValueError:
        return None
    return Place(phase, key, backwards)


async def page(
    conn: AsyncConnection,
    base: Select[Any],
    phases: Sequence[Phase],
    place: Place | None,
    size: int,
) -> Walked:
    """The ``size`` rows of ``base`` in the phases' order from ``place`` (None: the first),
    one range query per phase it reaches; one row more is read to know whether there are others."""
    start = place.phase if place is not None else 0
    forwards = place is None or not place.backwards
    order = range(start, len(phases)) if forwards else range(start, -1, -1)
    found: list[tuple[int, Any]] = []
    for index in order:
        phase = phases[index]
        query = base.where(phase.condition)
        if place is not None and index == place.phase:
            query = query.where(_beyond(phase, place.key, forwards))
        ascending = phase.descending != forwards  # the phase's own order, or its reverse
        by = [k.asc() if ascending else k.desc() for k in phase.keys]
        rows = (await conn.execute(query.order_by(*by).limit(size + 1 - len(found)))).all()
        found += [(index, r) for r in rows]
        if len(found) > size:
            break
    more = len(found) > size
    found = found[:size] if forwards else found[:size][::-1]
    keys = [written(i, phases[i].key_of(r)) for i, r in found]
    rows = [r for _, r in found]
    if forwards:
        return Walked(rows, keys, earlier=place is not None, later=more)
    return Walked(rows, keys, earlier=more, later=True)


def _beyond(phase: Phase, key: Key, forwards: bool) -> ColumnElement[bool]:
    """The rows of ``phase`` past ``key`` in the walk's direction (a row value comparison)."""
    columns = tuple_(*phase.keys)
    if forwards != phase.descending:
        return columns > tuple_(*key)
    return columns < tuple_(*key)


async def batches(
    ctx: ServiceContext, base: Select[Any], number: Any, size: int = BATCH, *, ahead: bool = False
) -> AsyncGenerator[list[Any]]:
    """Every row ``base`` selects, by ``number``, in windows of ``size`` numbers (so at most
    ``size`` rows at a time), up to the highest number when it starts: each window one bounded
    query in its own short read (no transaction held while a client reads). A window, not a
    ``LIMIT`` after the last row: whatever index the planner takes for the filters (a community's,
    a status's), it reads one window's rows, never every row past the last and a sort of them.

    With ``ahead``, the next window is read while the caller works on this one (the database's
    work and the caller's overlap: an export's rate is the slower of the two, not their sum); a
    caller that may stop early then closes the batches (``contextlib.aclosing``), which waits
    for that read to end and hand its connection back."""

    async def window(low: int) -> list[Any]:
        query = base.where(number > low, number <= low + size).order_by(number)
        async with ctx.db.reading() as session:
            return list((await (await session.connection()).execute(query)).all())

    async with ctx.db.reading() as session:
        top = (await (await session.connection()).execute(select(func.max(number)))).scalar()
    lows = iter(range(0, top or 0, size))
    if not ahead:
        for low in lows:
            if rows := await window(low):
                yield rows
        return

    def read(low: int | None) -> asyncio.Task[list[Any]] | None:
        return None if low is None else asyncio.ensure_future(window(low))

    reading = read(next(lows, None))
    try:
        while reading is not None:
            rows = await reading
            reading = read(next(lows, None))
            if rows:
                yield rows
    finally:  # stopped early: the read ahead ends as it would (cut short, its driver's thread
        # would answer a loop that may be gone), never left running
        if reading is not None:
            await asyncio.gather(reading, return_exceptions=True)
