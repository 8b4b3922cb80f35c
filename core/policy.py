"""Service levels: durations, quiet hours, working days, and what is due when."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class PolicyError(ValueError):
    """A service-level value that cannot be understood; the message says why."""


def parse_duration(text: str) -> timedelta:
    """Parse ``<n>s|m|h|d`` (a positive whole number and a unit) into a timedelta."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise PolicyError(
            f"bad duration {text!r}: expected a positive whole number and s, m, h or d (e.g. 30m)"
        )
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        # "99999999999d" is well-formed but beyond what timedelta holds.
        raise PolicyError(f"bad duration {text!r}: too long") from None


def parse_window(text: str) -> timedelta:
    """``parse_duration``, but zero (``0s``, ``0d``) is allowed too: a window that is off."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is not None and int(match.group(1)) == 0:
        return timedelta(0)
    return parse_duration(text)


def parse_clock(text: str) -> time:
    """Parse a local wall-clock time ``HH:MM``."""
    match = _CLOCK.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise PolicyError(f"bad time {text!r}: expected HH:MM (e.g. 08:30)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """Parse a window ``HH:MM-HH:MM``; it may wrap past midnight."""
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise PolicyError(f"bad quiet hours {text!r}: expected HH:MM-HH:MM (e.g. 22:00-07:00)")
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == end:
        raise PolicyError(f"bad quiet hours {text!r}: start and end are the same")
    return start, end


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A local wall-clock window, ``start`` inclusive and ``end`` exclusive; may wrap midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        # An empty window would silently mean "never quiet"; parse_quiet_hours refuses it too.
        if self.start == self.end:
            raise PolicyError("bad quiet hours: start and end are the same")

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Parse ``HH:MM-HH:MM`` into a window."""
        start, end = parse_quiet_hours(text)
        return cls(start, end)

    def contains(self, t: time) -> bool:
        """True when the naive wall-clock time ``t`` falls inside the window."""
        if self.start < self.end:
            return self.start <= t < self.end
        # Wrapping window (22:00-07:00): late evening or early morning.
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ServiceLevels:
    """The service levels of one category: the contract's ``defaults`` with its overrides."""

    ack_within: timedelta
    remind_every: timedelta
    escalate_after: int
    resolve_within: timedelta
    confirm_within: timedelta
    quiet_hours: QuietHours | None
    digest_at: time
    urgent: bool = False
    working_days: bool = False
    # How far back a new report is offered the open cases like it, to follow instead; zero: never.
    follow_window: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        # Overrides arrive as ``object``; checking here keeps a bad value from surfacing later
        # as a confusing TypeError deep inside the scheduler.
        for name in _DURATION_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise PolicyError(f"bad {name} {value!r}: expected a positive duration")
        window = self.follow_window
        if not isinstance(window, timedelta) or window < timedelta(0):
            raise PolicyError(f"bad follow_window {window!r}: expected a duration, or 0s for off")
        if (
            isinstance(self.escalate_after, bool)
            or not isinstance(self.escalate_after, int)
            or self.escalate_after < 0
        ):
            raise PolicyError(
                f"bad escalate_after {self.escalate_after!r}: expected a whole number >= 0"
            )
        if self.quiet_hours is not None and not isinstance(self.quiet_hours, QuietHours):
            raise PolicyError(f"bad quiet_hours {self.quiet_hours!r}: expected QuietHours")
        if not isinstance(self.digest_at, time):
            raise PolicyError(f"bad digest_at {self.digest_at!r}: expected a time")
        for name in ("urgent", "working_days"):
            if not isinstance(getattr(self, name), bool):
                raise PolicyError(f"bad {name} {getattr(self, name)!r}: expected true or false")

    def with_overrides(self, overrides: Mapping[str, object]) -> ServiceLevels:
        """Return a copy with the given (already parsed) values replaced."""
        unknown = sorted(set(overrides) - _LEVEL_FIELDS)
        if unknown:
            raise PolicyError(
                f"unknown service level {', '.join(unknown)}: expected one of "
                f"{', '.join(sorted(_LEVEL_FIELDS))}"
            )
        # Types are checked by __post_init__, which replace() runs.
        return replace(self, **overrides)  # type: ignore[arg-type]


_DURATION_FIELDS = ("ack_within", "remind_every", "resolve_within", "confirm_within")
_LEVEL_FIELDS = frozenset(f.name for f in fields(ServiceLevels))

DEFAULT_LEVELS = ServiceLevels(
    ack_within=timedelta(minutes=30),
    remind_every=timedelta(minutes=30),
    escalate_after=2,
    resolve_within=timedelta(hours=72),
    confirm_within=timedelta(hours=72),
    quiet_hours=QuietHours(time(22, 0), time(7, 0)),
    digest_at=time(8, 30),
)

_WEEKEND = (5, 6)  # Saturday, Sunday as date.weekday() numbers them


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which days are working days: Monday to Friday, except the public holidays, plus the
    make-up working days (调休) — as the State Council's yearly notice sets them for the
    ``known`` years; any other year is counted Monday to Friday (and said so at start)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # weekend days that are working days
    known: frozenset[int] = frozenset()

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() not in _WEEKEND


MONDAY_TO_FRIDAY = WorkCalendar()


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would be read as the host's local time: an implicit environment read.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) a local calendar day begins in ``tz``."""
    # fold=0: a midnight skipped by a DST jump resolves to the jump itself, the day's real start.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def add_duration(
    start: datetime,
    duration: timedelta,
    *,
    tz: tzinfo,
    working_days: bool,
    calendar: WorkCalendar = MONDAY_TO_FRIDAY,
) -> datetime:
    """Return ``start + duration``; with ``working_days``, only the local working days in ``tz``
    count (``calendar``: weekends, public holidays and make-up working days)."""
    _require_aware(start, "start")
    # Elapsed time is counted in UTC: aware arithmetic on a zoneinfo datetime is wall-clock
    # arithmetic and would be an hour off across a DST change.
    current = start.astimezone(UTC)
    if not working_days:
        return (current + duration).astimezone(start.tzinfo)
    remaining = duration
    while True:
        local_day = current.astimezone(tz).date()
        # Each step must move forward; only a pathological zone could put the next local midnight
        # behind us, and then an hour's step keeps the loop finite.
        if not calendar.is_workday(local_day):
            # Jump to the next working day's local 00:00; nothing counts until then.
            following = local_day + timedelta(days=1)
            while not calendar.is_workday(following):
                following += timedelta(days=1)
            start_of = _local_midnight(following, tz)
            current = start_of if start_of > current else current + timedelta(hours=1)
            continue
        day_end = _local_midnight(local_day + timedelta(days=1), tz)
        if day_end <= current:
            day_end = current + timedelta(hours=1)
        left_today = day_end - current
        if remaining <= left_today:
            return (current + remaining).astimezone(start.tzinfo)
        remaining -= left_today
        current = day_end


def resting_until(at: datetime, *, tz: tzinfo, calendar: WorkCalendar) -> datetime | None:
    """On a day off in ``calendar`` (a weekend, a public holiday): the start (local 00:00) of
    the next working day; on a working day, None. Reminders of ``working_days`` categories
    wait it out."""
    _require_aware(at, "at")
    day = at.astimezone(tz).date()
    if calendar.is_workday(day):
        return None
    following = day + timedelta(days=1)
    while not calendar.is_workday(following):
        following += timedelta(days=1)
    return _local_midnight(following, tz).astimezone(at.tzinfo)


def defer_for_quiet_hours(
    at: datetime, *, quiet: QuietHours | None, tz: tzinfo, urgent: bool
) -> datetime:
    """Move ``at`` to the end of the quiet window when it falls inside one (unless urgent)."""
    _require_aware(at, "at")
    if quiet is None or urgent:
        return at
    local = at.astimezone(tz)
    wall = local.replace(tzinfo=None).time()
    if not quiet.contains(wall):
        return at
    # Before the end today (02:00 → 07:00) or, in the evening part of a wrapping window,
    # tomorrow (23:30 → 07:00 next day).
    end_day = local.date() if wall < quiet.end else local.date() + timedelta(days=1)
    end = datetime.combine(end_day, quiet.end, tzinfo=tz)
    # Compared in UTC: two datetimes sharing a tzinfo compare by wall clock, ignoring fold.
    if end.astimezone(UTC) <= at.astimezone(UTC):
        # The end's wall time repeats after a DST fall-back and we are already past the first
        # occurrence: take the second.
        end = end.replace(fold=1)
    return end.astimezone(at.tzinfo)


def deadlines(
    reported_at: datetime,
    levels: ServiceLevels,
    *,
    tz: tzinfo,
    calendar: WorkCalendar = MONDAY_TO_FRIDAY,
) -> tuple[datetime, datetime]:
    """Return ``(ack_due_at, resolve_due_at)`` for a case reported at ``reported_at``."""
    working = levels.working_days
    return (
        add_duration(
            reported_at, levels.ack_within, tz=tz, working_days=working, calendar=calendar
        ),
        add_duration(
            reported_at, levels.resolve_within, tz=tz, working_days=working, calendar=calendar
        ),
    )
