"""``wolaiban calendar check``: which years the working calendar knows (China's public holidays
and make-up working days) — exit 1 when this year is not among them, so a monitor hears it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.env import NOT_FOUND, Env, Result
from bot.services.cases.routing import DEFAULT_TIMEZONE
from bot.services.directory.calendar import china, known_span, unknown_years


def today_in_china() -> datetime:
    """Now, on the directory's default clock (the calendar is China's)."""
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(DEFAULT_TIMEZONE))


async def check(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban calendar check``."""
    calendar = china()
    today = today_in_china().date()
    span = known_span(calendar)
    lines = [env.say("calendar.known", first=span[0], last=span[1]) if span else ""]
    missing = unknown_years(calendar, today)
    lines += [env.say("calendar.unknown", year=year) for year in missing]
    code = NOT_FOUND if today.year in missing else 0
    return Result(code, "\n".join(line for line in lines if line))


HANDLERS = {"calendar check": check}
