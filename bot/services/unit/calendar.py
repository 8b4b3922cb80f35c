"""The working calendar ``working_days`` deadlines count in: China's public holidays and make-up
working days (调休) as the State Council's yearly notice sets them, from the ``chinese-calendar``
package (a new release follows each notice: upgrading it is how an operator adds a year). A year
it does not know is counted Monday to Friday — never silently: ``run`` says so at start and
``wolaiban calendar check`` lists the years known."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar

from core.policy import WorkCalendar

BEIJING = ZoneInfo("Asia/Shanghai")  # the calendar's own day: a holiday is Beijing's date


def today() -> date:
    """Today's date in Beijing, the day the calendar is read for."""
    return datetime.now(UTC).astimezone(BEIJING).date()


@functools.cache
def china() -> WorkCalendar:
    """The State Council's calendar as the installed package knows it."""
    holidays = frozenset(chinese_calendar.constants.holidays)
    workdays = frozenset(chinese_calendar.constants.workdays)
    return WorkCalendar(holidays, workdays, frozenset(d.year for d in holidays | workdays))


def unknown_years(calendar: WorkCalendar, today: date) -> list[int]:
    """This year and the next, where the calendar does not know them (deadlines set late in a
    year fall in the next)."""
    return [year for year in (today.year, today.year + 1) if year not in calendar.known]


def known_span(calendar: WorkCalendar) -> tuple[int, int] | None:
    """The first and last year the calendar knows, or None."""
    return (min(calendar.known), max(calendar.known)) if calendar.known else None
