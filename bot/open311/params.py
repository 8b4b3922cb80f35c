"""The query arguments of GeoReport v2 reads: the language, comma lists, W3C datetimes and the
90-day range, each refused with a 400 that names the argument."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from core.texts import CATALOGS, normalize_language

from .errors import Problem

SPAN = timedelta(days=90)
MAX_IDS = 1000
MAX_CASE_NUMBER = 2**31 - 1  # the case number's column is a 32-bit INTEGER
# The dates a search may name: before any case, or far enough from the calendar's end that the
# 90 days around them and the conversion to UTC stay within what a datetime holds.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def language_of(locale: str, accept: str, default: str) -> str:
    """``locale`` (an Open311 extension), else the best of ``Accept-Language``, else ``default``."""
    chosen = normalize_language(locale)
    if chosen:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")[:20]):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        language = normalize_language(tag)
        if language in CATALOGS and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else default


def comma_list(params: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A comma-delimited argument's values (None when absent or empty)."""
    values = tuple(v.strip() for v in params.get(name, "").split(",") if v.strip())
    return values or None


def request_ids(params: Mapping[str, str]) -> tuple[int, ...] | None:
    """``service_request_id`` as case numbers; 400 for anything but whole numbers."""
    values = comma_list(params, "service_request_id")
    if values is None:
        return None
    if len(values) > MAX_IDS or not all(v.isdigit() and len(v) <= 10 for v in values):
        raise Problem(
            400,
            "open311.err.bad_value",
            {"field": "service_request_id", "value": params["service_request_id"][:80]},
        )
    # A number past the case column's range names no case: it finds nothing (PostgreSQL would
    # refuse to compare an INTEGER with it).
    return tuple(n for n in (int(v) for v in values) if n <= MAX_CASE_NUMBER)


def state_of(params: Mapping[str, str]) -> str | None:
    """``status``: "open", "closed", or None for both."""
    values = comma_list(params, "status")
    if values is None:
        return None
    states = {v.lower() for v in values}
    if not states <= {"open", "closed"}:
        raise Problem(
            400, "open311.err.bad_value", {"field": "status", "value": params["status"][:80]}
        )
    return states.pop() if len(states) == 1 else None


def _datetime(params: Mapping[str, str], name: str, tz: tzinfo) -> datetime | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise Problem(400, "open311.err.bad_value", {"field": name, "value": text[:80]}) from None
    # A time without its offset is read in the directory's zone.
    value = value if value.tzinfo is not None else value.replace(tzinfo=tz)
    try:
        in_range = EARLIEST <= value.astimezone(UTC) <= LATEST
    except OverflowError:  # year 1 or 9999 with an offset: past what a datetime holds in UTC
        in_range = False
    if not in_range:  # and the 90 days around it must stay within what a datetime holds
        raise Problem(400, "open311.err.bad_value", {"field": name, "value": text[:80]})
    return value


@dataclass(frozen=True, slots=True)
class Span:
    """The requested-time range of a search."""

    start: datetime
    end: datetime


def span_of(params: Mapping[str, str], now: datetime, tz: tzinfo) -> Span:
    """``start_date``..``end_date``: the most recent 90 days by default, 90 days from the one
    given, and a 400 for a range that is longer or backwards."""
    start, end = _datetime(params, "start_date", tz), _datetime(params, "end_date", tz)
    if start is None and end is None:
        return Span(now - SPAN, now)
    if start is None:
        assert end is not None
        return Span(end - SPAN, end)
    if end is None:
        return Span(start, start + SPAN)
    if end < start or end - start > SPAN:
        raise Problem(400, "open311.err.span")
    return Span(start, end)
