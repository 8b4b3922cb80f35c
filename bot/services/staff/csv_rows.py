"""The shapes the case list's export hands its batches out in: the contract's JSON, or the
console CSV's lines written straight from the database's rows — the same bytes the CSV of the
contract's JSON was, without a datetime, a dict or a call per cell."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import String, case, func, literal_column, type_coerce
from sqlmodel import col

from bot.services.staff.views import JSON_COLUMNS, case_json

Names = dict[str, tuple[str, str]]  # display names by "kind:id" (``queue.display_names``)

CSV_FIELDS = (
    "number",
    "status",
    "community",
    "community_name",
    "category",
    "category_name",
    "location",
    "description",
    "channel",
    "resident",
    "manager",
    "manager_name",
    "escalation_level",
    "reopen_count",
    "rating",
    "duplicate_of",
    "followers",
    "created_at",
    "ack_due_at",
    "resolve_due_at",
    "acknowledged_at",
    "resolved_at",
    "closed_at",
)
_TIMES = JSON_COLUMNS[-6:]  # created_at … closed_at, the CSV's last six cells
_FORMULA = frozenset("=+-@\t\r")  # a spreadsheet runs a cell that starts so ("" is not in it)
# The times the database writes in local time: from ten years back to two ahead of the export
# (older or later ones are converted here, one by one).
_BACK, _AHEAD = timedelta(days=3653), timedelta(days=731)
_DAY = 86_400


class Shape(Protocol):
    """What an export reads of each case (in a dialect) and what it makes of a batch of them."""

    def columns(self, dialect: str, tz: tzinfo, now: datetime) -> Sequence[Any]:
        """The columns selected, in the order ``lines`` reads them."""
        ...

    def lines(self, rows: Sequence[Any], tz: tzinfo, names: Names) -> list[Any]:
        """A batch of rows as what the export hands out, times in ``tz``."""
        ...


class ContractJson:
    """Each case as the contract's JSON object (``views.case_json``)."""

    def columns(self, dialect: str, tz: tzinfo, now: datetime) -> Sequence[Any]:
        """The JSON's columns, times as aware datetimes."""
        return JSON_COLUMNS

    def lines(self, rows: Sequence[Any], tz: tzinfo, names: Names) -> list[dict[str, Any]]:
        """The batch's JSON objects."""
        return [case_json(r._mapping, tz, names=names) for r in rows]


CONTRACT_JSON = ContractJson()


def cell(value: Any) -> str:
    """``value`` as a cell of the console's CSV: what ``csv.writer`` writes of it (nothing for
    None; in double quotes, doubled within, when it holds one, a comma or a line break), a text
    a spreadsheet would run as a formula first quoted with an apostrophe."""
    if value is None:
        return ""
    if value.__class__ is not str:
        return str(value)
    text: str = "'" + value if value[:1] in _FORMULA else value
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _Cells(dict[Any, str]):
    """The cells of the few values a column takes (a status, a channel, a rating), each written
    once: a lookup, not a call, per line."""

    def __missing__(self, value: Any) -> str:
        found = self[value] = cell(value)
        return found


HEADER = ",".join(map(cell, CSV_FIELDS)) + "\r\n"


class CsvLines:
    """Each case as the console CSV's line of ``CSV_FIELDS`` (with its line break) — the cells
    of its contract JSON as ``csv.writer`` wrote them (``cell``) — written straight from the
    row's tuple: its six times written in local time by the database (``local_times``); the
    cells of a status, a community or a category written once per export, of a manager once
    per batch (whose names are read with it). One per export."""

    def __init__(self) -> None:
        self._few = _Cells()
        self._communities: dict[Any, str] = {}
        self._categories: dict[Any, str] = {}

    def columns(self, dialect: str, tz: tzinfo, now: datetime) -> Sequence[Any]:
        """The JSON's columns, the six times as one text of six cells (``local_times``)."""
        today = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        return [*JSON_COLUMNS[:-6], local_times(dialect, tz, today - _BACK, today + _AHEAD)]

    def lines(self, rows: Sequence[Any], tz: tzinfo, names: Names) -> list[str]:
        """The batch's CSV lines."""
        few, communities, categories = self._few, self._communities, self._categories
        people: dict[Any, str] = {}
        found = []
        for (
            number, status, community, category, location, description, channel, resident,
            manager, level, reopened, rating, duplicate, followers, times,
        ) in rows:  # fmt: skip
            here = communities.get(community)
            if here is None:
                here = communities[community] = _named("community", community, names)
            kind = categories.get(category)
            if kind is None:
                kind = categories[category] = _named("category", category, names)
            held = people.get(manager)
            if held is None:  # none for none (case_json's manager_name)
                held = people[manager] = _named("person", manager, names) if manager else ","
            if "~" in times:  # times the database left in UTC
                times = ",".join([_local(t, tz) for t in times.split(",")])
            found.append(
                f"{number},{few[status]},{here},{kind},{cell(location)},{cell(description)},"
                f"{few[channel]},{cell(resident)},{held},{level},{reopened},{few[rating]},"
                f"{'' if duplicate is None else duplicate},{followers},{times}\r\n"
            )
        return found


def _named(kind: str, key: Any, names: Names) -> str:
    """The cells of an id and its name, as ``case_json`` names it: by name, else by id."""
    return f"{cell(key)},{cell(names.get(f'{kind}:{key}', (key,))[0])}"


def _local(written: str, tz: tzinfo) -> str:
    """A time's cell as the database wrote it: local already, or made local from the UTC after
    its ``~`` (``~2026-05-03 07:12:33``)."""
    if written[:1] != "~":
        return written
    at = datetime.fromisoformat(written[1:]).replace(tzinfo=UTC)
    return at.astimezone(tz).isoformat(timespec="seconds")


@lru_cache(maxsize=16)  # a zone's stretches around a day: worked out once, not per download
def offsets(tz: tzinfo, start: datetime, end: datetime) -> tuple[tuple[datetime, int, str], ...]:
    """The stretches of [``start``, ``end``) over which ``tz`` keeps one offset: when each
    begins, its offset in seconds and as ISO 8601 writes it ("+08:00"). Found a day at a time,
    each change then to the second (tzdata's changes are at whole seconds, days apart)."""

    def offset(at: int) -> timedelta | None:
        return datetime.fromtimestamp(at, UTC).astimezone(tz).utcoffset()

    first, last = int(start.timestamp()), int(end.timestamp())
    begins, current = [first], offset(first)
    for day in range(first, last, _DAY):
        low, high = day, min(day + _DAY, last)
        if offset(high) == current:
            continue
        while high - low > 1:  # the change is in (low, high]
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == current else (low, middle)
        begins.append(high)
        current = offset(high)
    found = []
    for at in begins:
        local = datetime.fromtimestamp(at, UTC).astimezone(tz)
        shift = int(local.utcoffset().total_seconds())  # type: ignore[union-attr]
        found.append((datetime.fromtimestamp(at, UTC), shift, local.isoformat()[19:]))
    return tuple(found)


def local_times(dialect: str, tz: tzinfo, start: datetime, end: datetime) -> Any:
    """The six times of a case as the CSV's six cells in one text — each in ``tz`` to the
    second with its offset, what ``astimezone(tz).isoformat(timespec="seconds")`` writes, or
    nothing — worked out by the database from UTC for those in [``start``, ``end``), by stretch
    of one offset (``offsets``); others left in UTC after a ``~`` (``~2026-05-03 07:12:33``)."""
    stretches = offsets(tz, start, end)
    ends = [at for at, _, _ in stretches[1:]] + [end]
    found: Any = None
    for column in (col(c) for c in _TIMES):
        utc = "~" + _written(dialect, column, None)
        whens = [(column < start, utc)]
        whens += [
            (column < until, _written(dialect, column, shift) + suffix)
            for until, (_, shift, suffix) in zip(ends, stretches, strict=True)
        ]
        written = func.coalesce(case(*whens, else_=utc), "")
        found = written if found is None else found + "," + written
    return found


def _written(dialect: str, column: Any, shift: int | None) -> Any:
    """``column``'s time as text to the second: ``shift`` seconds on from UTC in ISO 8601
    (``2026-05-03T15:12:33``), or (None) in UTC as ``2026-05-03 07:12:33``."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        if shift is None:
            return func.to_char(utc, "YYYY-MM-DD HH24:MI:SS", type_=String)
        moved = utc + literal_column(f"interval '{int(shift)} seconds'")  # a number: no text
        return func.to_char(moved, 'YYYY-MM-DD"T"HH24:MI:SS', type_=String)
    # SQLite's stored text, its fraction of a second cut (SQLite would round it to milliseconds).
    text = func.substr(type_coerce(column, String), 1, 19)
    if shift is None:
        return func.strftime("%Y-%m-%d %H:%M:%S", text, type_=String)
    return func.strftime("%Y-%m-%dT%H:%M:%S", text, f"{shift:+d} seconds", type_=String)
