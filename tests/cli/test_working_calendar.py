"""China's working calendar (issue 27): ``working_days`` deadlines skip the public holidays and
count the make-up working days (调休) the State Council's notice sets — here the notice for 2025
(国办发明电〔2024〕12号): National Day and Mid-Autumn, 1–8 October off, Sunday 28 September and
Saturday 11 October worked. A year the calendar does not know counts Monday to Friday, and
``wolaiban calendar check`` says so."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.services.cases.report import NewReport, report
from bot.services.cases.timers import run_due
from bot.services.unit.calendar import china, unknown_years
from bot.services.unit.context import ServiceContext
from core.due import Step
from core.policy import MONDAY_TO_FRIDAY, add_duration
from db.models import Case
from tests.cli.conftest import Cli
from tests.conftest import Clock

BEIJING = ZoneInfo("Asia/Shanghai")
THREE_DAYS = timedelta(hours=72)  # "3 working days"


def at(day: int, month: int = 9, hour: int = 9) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=BEIJING)


def due(start: datetime, *, calendar: object = None) -> datetime:
    return add_duration(
        start, THREE_DAYS, tz=BEIJING, working_days=True, calendar=calendar or china()
    )


def test_the_notice_of_2025_is_known_and_its_days_are_as_it_gives_them() -> None:
    calendar = china()
    assert 2025 in calendar.known
    assert [d.day for d in sorted(calendar.holidays) if d.year == 2025 and d.month == 10] == [
        *range(1, 9)
    ]
    assert {date(2025, 9, 28), date(2025, 10, 11)} <= calendar.workdays  # Sunday, Saturday
    assert calendar.is_workday(date(2025, 9, 28))
    assert not calendar.is_workday(date(2025, 10, 6))  # a Monday of the holiday


def test_three_working_days_from_the_friday_before_national_day_count_the_makeup_sunday() -> None:
    # Friday 26 Sep 09:00: the rest of Friday, Sunday 28 (worked), Monday 29, then Tuesday 30
    # until 09:00 — before the holiday, not on its first day as Monday-to-Friday would have it.
    assert due(at(26)) == at(30)
    assert due(at(26), calendar=MONDAY_TO_FRIDAY) == at(1, 10)


def test_three_working_days_across_the_holiday_end_on_the_makeup_saturday() -> None:
    # Tuesday 30 Sep 09:00: the rest of Tuesday; 1-8 October off; Thursday 9, Friday 10, then
    # Saturday 11 (worked) until 09:00. Monday to Friday would land in the holiday (3 October).
    assert due(at(30)) == at(11, 10)
    assert due(at(30), calendar=MONDAY_TO_FRIDAY) == at(3, 10)


async def test_a_case_in_a_working_days_category_is_due_as_the_notice_counts(
    loaded: ServiceContext, clock: Clock
) -> None:
    clock.now = at(30)  # the broken bench's category counts working days (the example file)
    bench = NewReport(
        "yuanxiang", "broken-facility", "5号楼和6号楼之间的长椅坏了", location="5号楼"
    )
    case = await report(loaded, resident_id="r-yuanxiang-5", channel="sms", new=bench)
    assert case.resolve_due_at.astimezone(BEIJING) == at(11, 10)


async def test_reminders_of_a_working_days_case_wait_out_the_holiday(
    loaded: ServiceContext, clock: Clock
) -> None:
    # Reported Tuesday 30 Sep 09:00; its manager does not acknowledge. On 2 October (National
    # Day) the case is overdue, but a deadline counted in working days is not chased on a
    # holiday: the reminder waits for Thursday 9 October, after the quiet hours (07:00).
    clock.now = at(30)
    bench = NewReport(
        "yuanxiang", "broken-facility", "5号楼和6号楼之间的长椅坏了", location="5号楼"
    )
    case = await report(loaded, resident_id="r-yuanxiang-5", channel="sms", new=bench)
    assert case.number is not None
    clock.now = at(2, 10, hour=10)
    assert await run_due(loaded) == {Step.WAIT: 1}
    async with loaded.db.reading() as session:
        held = await session.get(Case, case.number)
        assert held is not None
        assert held.next_due_at is not None
        assert held.next_due_at.astimezone(BEIJING) == at(9, 10, hour=7)
        assert held.reminders_sent == 0
    clock.now = at(8, 10, hour=23)  # the holiday's last evening: still waiting
    assert await run_due(loaded) == {}
    clock.now = at(9, 10, hour=7)
    assert await run_due(loaded) == {Step.REMIND: 1}


def test_a_year_it_does_not_know_is_said_not_counted_silently(cli: Cli) -> None:
    calendar = china()
    unknown = max(calendar.known) + 1
    assert unknown_years(calendar, date(unknown, 3, 1)) == [unknown, unknown + 1]
    assert unknown_years(calendar, date(2025, 6, 1)) == []
    # An unknown year counts Monday to Friday: a Monday is a working day, a Saturday is not.
    monday = date(unknown, 1, 1) + timedelta(days=-date(unknown, 1, 1).weekday() + 7)
    assert calendar.is_workday(monday)
    assert not calendar.is_workday(monday + timedelta(days=5))
    done = cli("calendar", "check")
    assert f"{min(calendar.known)}–{max(calendar.known)}" in done.out
