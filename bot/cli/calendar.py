"""``wolaiban calendar check``: which years the working calendar knows (China's public holidays
and make-up working days) — exit 1 when this year is not among them, so a monitor hears it."""

from __future__ import annotations

import argparse

from bot.cli.env import NOT_FOUND, Env, Result
from bot.services.unit.calendar import china, known_span, today, unknown_years


async def check(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban calendar check``."""
    calendar = china()
    span = known_span(calendar)
    lines = [env.say("calendar.known", first=span[0], last=span[1]) if span else ""]
    now = today()
    missing = unknown_years(calendar, now)
    lines += [env.say("calendar.unknown", year=year) for year in missing]
    code = NOT_FOUND if now.year in missing else 0
    return Result(code, "\n".join(line for line in lines if line))


HANDLERS = {"calendar check": check}
