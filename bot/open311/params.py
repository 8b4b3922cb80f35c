"""The query arguments of GeoReport v2 reads: the language, comma lists, W3C datetimes and the
90-day range, and the ``page``/``page_size`` extension, each refused with a 400 that names the
argument."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from core.texts import CATALOGS, normalize_language

from .errors import Problem

SPAN = timedelta(days=90)
MAX_IDS = 1000  # ids in one GET with a key: the spec's 1000 results
MAX_IDS_KEYLESS = 50  # without one: a keyless reader cannot sweep the case numbers in bulk
# The paging extension as Chicago, Boston, Austin and San Francisco document it: page from 1,
# 50 a page unless page_size says otherwise, at most 500.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_PAGE = 1_000_000  # keeps the offset (at most 5 * 10**8) within a 32-bit integer
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


def request_ids(params: Mapping[str, str], *, keyed: bool) -> tuple[int, ...] | None:
    """``service_request_id`` as case numbers: 400 for anything but whole numbers, and for more
    than ``MAX_IDS`` of them (``MAX_IDS_KEYLESS`` for a reader without a key)."""
    values = comma_list(params, "service_request_id")
    if values is None:
        return None
    limit = MAX_IDS if keyed else MAX_IDS_KEYLESS
    if len(values) > limit:
        raise Problem(400, "open311.err.too_many_ids", {"count": len(values), "limit": limit})
    if not all(v.isascii() and v.isdigit() and len(v) <= 10 for v in values):
        raise Problem(
            400,
            "open311.err.bad_value",
            {"field": "service_request_id", "value": params["service_request_id"][:80]},
        )
    # A number past the case column's range names no case: it finds nothing (PostgreSQL would
    # refuse to compare an INTEGER with it).
    return tuple(n for n in (int(v) for v in values) if n <= MAX_CASE_NUMBER)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: ``number`` from 1, ``size`` requests a page."""

    number: int
    size: int

    @property
    def offset(self) -> int:
        """How many requests come before this page."""
        return (self.number - 1) * self.size


def _whole(params: Mapping[str, str], name: str, top: int) -> int | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    # isdigit() alone takes "²" and "٣", which int() refuses or reads: ASCII digits only.
    if not (text.isascii() and text.isdigit() and len(text) <= 7 and 1 <= int(text) <= top):
        raise Problem(400, "open311.err.page", {"field": name, "value": text[:80], "limit": top})
    return int(text)


def page_of(params: Mapping[str, str]) -> Page | None:
    """``page`` and ``page_size``: None when neither is given (then the spec's first 1,000
    answer), else page 1 and ``PAGE_SIZE`` unless given; 400 for anything but a whole number
    from 1 to ``MAX_PAGE`` and ``MAX_PAGE_SIZE``."""
    number = _whole(params, "page", MAX_PAGE)
    size = _whole(params, "page_size", MAX_PAGE_SIZE)
    if number is None and size is None:
        return None
    return Page(number or 1, size or PAGE_SIZE)


def case_number(text: str) -> int | None:
    """A service_request_id in a path as a case number; None when it can name no case."""
    # ASCII digits only: "²".isdigit() is true, and int("²") raises.
    if text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_CASE_NUMBER:
        return int(text)
    return None


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
