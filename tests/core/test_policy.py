"""Service levels: parsing, quiet hours, overrides, working-day deadlines and deferral."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.policy import (
    DEFAULT_LEVELS,
    PolicyError,
    QuietHours,
    ServiceLevels,
    add_duration,
    deadlines,
    defer_for_quiet_hours,
    parse_clock,
    parse_duration,
    parse_quiet_hours,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8 all year
NEW_YORK = ZoneInfo("America/New_York")  # DST: 2024-03-10 02:00 → 03:00, 2024-11-03 02:00 → 01:00
NIGHT = QuietHours(time(22, 0), time(7, 0))


def sh(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Shanghai wall-clock time as the UTC instant the database would hold."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("72h", timedelta(hours=72)),
        ("2d", timedelta(days=2)),
        (" 10m ", timedelta(minutes=10)),
    ],
)
def test_parse_duration_accepts_whole_numbers_with_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["1.5h", "-1m", "5x", "", "0m", "m", "30", "1h30m", "99999999999d"]
)
def test_parse_duration_refuses_anything_else(text: str) -> None:
    with pytest.raises(PolicyError, match="bad duration"):
        parse_duration(text)


def test_parse_clock_and_quiet_hours() -> None:
    assert parse_clock("08:30") == time(8, 30)
    assert parse_quiet_hours("22:00-07:00") == (time(22, 0), time(7, 0))
    for bad in ("8:30", "24:00", "12:60", "noon"):
        with pytest.raises(PolicyError, match="bad time"):
            parse_clock(bad)
    for bad in ("22:00", "22:00-07:00-08:00", "07:00-07:00"):
        with pytest.raises(PolicyError, match="bad quiet hours"):
            parse_quiet_hours(bad)


# --- quiet hours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "inside"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 0), True),
        (time(0, 0), True),
        (time(6, 59, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_wrapping_midnight(t: time, inside: bool) -> None:
    assert QuietHours.parse("22:00-07:00").contains(t) is inside


@pytest.mark.parametrize(
    ("t", "inside"),
    [(time(0, 59), False), (time(1, 0), True), (time(4, 59), True), (time(5, 0), False)],
)
def test_quiet_hours_within_one_day(t: time, inside: bool) -> None:
    assert QuietHours.parse("01:00-05:00").contains(t) is inside


def test_quiet_hours_parse_and_refusals() -> None:
    assert QuietHours.parse("22:00-07:00") == NIGHT
    assert str(NIGHT) == "22:00-07:00"
    with pytest.raises(PolicyError):
        QuietHours.parse("22:00")
    with pytest.raises(PolicyError):
        QuietHours(time(7, 0), time(7, 0))


# --- service levels --------------------------------------------------------------------------


def test_default_levels_are_the_contracts() -> None:
    expected = ServiceLevels(
        ack_within=timedelta(minutes=30),
        remind_every=timedelta(minutes=30),
        escalate_after=2,
        resolve_within=timedelta(hours=72),
        confirm_within=timedelta(hours=72),
        quiet_hours=NIGHT,
        digest_at=time(8, 30),
        urgent=False,
        working_days=False,
    )
    assert expected == DEFAULT_LEVELS


def test_with_overrides_replaces_only_the_given_keys() -> None:
    water = DEFAULT_LEVELS.with_overrides({"ack_within": timedelta(minutes=10), "urgent": True})
    assert water.ack_within == timedelta(minutes=10)
    assert water.urgent is True
    assert water.resolve_within == DEFAULT_LEVELS.resolve_within
    assert water.quiet_hours == DEFAULT_LEVELS.quiet_hours
    # The defaults themselves are untouched.
    assert DEFAULT_LEVELS.ack_within == timedelta(minutes=30)
    assert DEFAULT_LEVELS.urgent is False
    assert DEFAULT_LEVELS.with_overrides({}) == DEFAULT_LEVELS
    assert DEFAULT_LEVELS.with_overrides({"quiet_hours": None}).quiet_hours is None


def test_with_overrides_refuses_unknown_keys() -> None:
    with pytest.raises(PolicyError, match="unknown service level ack_whithin"):
        DEFAULT_LEVELS.with_overrides({"ack_whithin": timedelta(minutes=10)})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ack_within", "30m"),
        ("resolve_within", timedelta(0)),
        ("escalate_after", True),
        ("escalate_after", -1),
        ("quiet_hours", "22:00-07:00"),
        ("digest_at", "08:30"),
        ("working_days", "yes"),
    ],
)
def test_with_overrides_refuses_unparsed_or_bad_values(key: str, value: object) -> None:
    with pytest.raises(PolicyError, match=f"bad {key}"):
        DEFAULT_LEVELS.with_overrides({key: value})


# --- add_duration ----------------------------------------------------------------------------


def test_add_duration_plain_runs_through_the_weekend() -> None:
    # 2024-06-07 is a Friday.
    assert add_duration(
        sh(2024, 6, 7, 16, 0), timedelta(hours=48), tz=SHANGHAI, working_days=False
    ) == sh(2024, 6, 9, 16, 0)


def test_add_duration_working_days_skips_the_local_weekend() -> None:
    # Friday 16:00 → 8h left on Friday, Monday 24h, Tuesday 16h: Tuesday 16:00.
    due = add_duration(sh(2024, 6, 7, 16, 0), timedelta(hours=48), tz=SHANGHAI, working_days=True)
    assert due == sh(2024, 6, 11, 16, 0)
    assert due.tzinfo is UTC
    # The brief's other example: Friday 10:00 + 48h is Tuesday 10:00.
    assert add_duration(
        sh(2024, 6, 7, 10, 0), timedelta(hours=48), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 11, 10, 0)


def test_add_duration_working_days_within_the_week_is_plain() -> None:
    assert add_duration(
        sh(2024, 6, 4, 9, 0), timedelta(minutes=30), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 4, 9, 30)


def test_add_duration_uses_the_local_day_not_the_utc_day() -> None:
    # Friday 23:30 in Shanghai is still Friday 15:30 UTC; the local weekend begins 30 minutes later.
    assert add_duration(
        sh(2024, 6, 7, 23, 30), timedelta(hours=1), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 10, 0, 30)
    # Monday 00:10 in Shanghai is Sunday 16:10 UTC, yet already a working day.
    assert add_duration(
        sh(2024, 6, 10, 0, 10), timedelta(minutes=20), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 10, 0, 30)


def test_add_duration_from_the_weekend_starts_counting_on_monday() -> None:
    assert add_duration(
        sh(2024, 6, 8, 12, 0), timedelta(minutes=30), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 10, 0, 30)
    assert add_duration(
        sh(2024, 6, 9, 23, 59), timedelta(minutes=2), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 10, 0, 2)


def test_add_duration_landing_exactly_on_friday_midnight() -> None:
    assert add_duration(
        sh(2024, 6, 7, 23, 0), timedelta(hours=1), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 8, 0, 0)


def test_add_duration_many_days() -> None:
    # Ten working days of 24h from a Monday: two calendar weeks.
    assert add_duration(
        sh(2024, 6, 3, 9, 0), timedelta(days=10), tz=SHANGHAI, working_days=True
    ) == sh(2024, 6, 17, 9, 0)
    # A year of working days (260 × 24h) spans 52 weeks.
    assert add_duration(
        sh(2024, 1, 1, 9, 0), timedelta(days=260), tz=SHANGHAI, working_days=True
    ) == sh(2024, 1, 1, 9, 0) + timedelta(weeks=52)


def test_add_duration_keeps_the_input_timezone() -> None:
    start = datetime(2024, 6, 7, 16, 0, tzinfo=SHANGHAI)
    due = add_duration(start, timedelta(hours=48), tz=SHANGHAI, working_days=True)
    assert due.tzinfo is SHANGHAI
    assert due.replace(tzinfo=None) == datetime(2024, 6, 11, 16, 0)


def test_add_duration_counts_elapsed_time_across_dst() -> None:
    # Saturday noon + 24h across the spring-forward night is Sunday 13:00 on the wall clock.
    start = datetime(2024, 3, 9, 12, 0, tzinfo=NEW_YORK)
    due = add_duration(start, timedelta(hours=24), tz=NEW_YORK, working_days=False)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2024, 3, 10, 13, 0)
    # Working days: Friday noon, 12h on Friday, the weekend (with its DST change) skipped, 12h on
    # Monday: Monday noon on the wall clock.
    friday = datetime(2024, 3, 8, 12, 0, tzinfo=NEW_YORK).astimezone(UTC)
    due = add_duration(friday, timedelta(hours=24), tz=NEW_YORK, working_days=True)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2024, 3, 11, 12, 0)


def test_add_duration_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_duration(datetime(2024, 6, 7), timedelta(hours=1), tz=SHANGHAI, working_days=True)


def test_deadlines_from_the_service_levels() -> None:
    reported = sh(2024, 6, 7, 16, 0)  # a Friday
    assert deadlines(reported, DEFAULT_LEVELS, tz=SHANGHAI) == (
        sh(2024, 6, 7, 16, 30),
        sh(2024, 6, 10, 16, 0),
    )
    # 72 working hours: Friday 8h, Monday 24h, Tuesday 24h, Wednesday 16h.
    facility = DEFAULT_LEVELS.with_overrides({"working_days": True})
    assert deadlines(reported, facility, tz=SHANGHAI) == (
        sh(2024, 6, 7, 16, 30),
        sh(2024, 6, 12, 16, 0),
    )


# --- defer_for_quiet_hours -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sh(2024, 6, 4, 23, 30), sh(2024, 6, 5, 7, 0)),
        (sh(2024, 6, 4, 22, 0), sh(2024, 6, 5, 7, 0)),
        (sh(2024, 6, 4, 2, 0), sh(2024, 6, 4, 7, 0)),
        (sh(2024, 6, 4, 6, 59), sh(2024, 6, 4, 7, 0)),
        (sh(2024, 6, 4, 7, 0), sh(2024, 6, 4, 7, 0)),
        (sh(2024, 6, 4, 12, 0), sh(2024, 6, 4, 12, 0)),
        (sh(2024, 6, 4, 21, 59), sh(2024, 6, 4, 21, 59)),
    ],
)
def test_defer_for_quiet_hours(at: datetime, expected: datetime) -> None:
    deferred = defer_for_quiet_hours(at, quiet=NIGHT, tz=SHANGHAI, urgent=False)
    assert deferred == expected
    assert deferred.tzinfo is UTC


def test_defer_for_quiet_hours_not_when_urgent_or_without_a_window() -> None:
    at = sh(2024, 6, 4, 23, 30)
    assert defer_for_quiet_hours(at, quiet=NIGHT, tz=SHANGHAI, urgent=True) == at
    assert defer_for_quiet_hours(at, quiet=None, tz=SHANGHAI, urgent=False) == at


def test_defer_for_quiet_hours_across_spring_forward() -> None:
    # 01:00 EST is 06:00 UTC; 07:00 EDT that morning is 11:00 UTC — five hours, not six.
    at = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
    assert defer_for_quiet_hours(at, quiet=NIGHT, tz=NEW_YORK, urgent=False) == datetime(
        2024, 3, 10, 11, 0, tzinfo=UTC
    )


def test_defer_for_quiet_hours_in_the_repeated_hour_of_fall_back() -> None:
    # 01:00-01:59 happens twice on 2024-11-03. At the second 01:00 (EST, 06:00 UTC) the first
    # 01:30 (EDT, 05:30 UTC) is already past; the window ends at the second 01:30 (06:30 UTC).
    quiet = QuietHours.parse("22:00-01:30")
    at = datetime(2024, 11, 3, 6, 0, tzinfo=UTC)
    assert defer_for_quiet_hours(at, quiet=quiet, tz=NEW_YORK, urgent=False) == datetime(
        2024, 11, 3, 6, 30, tzinfo=UTC
    )
