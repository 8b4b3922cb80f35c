"""Once a day across instances: which process runs a daily job (a backup, retention) today."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.services.unit.context import ServiceContext
from bot.services.unit.work import unit_of_work
from db.models import Setting

# How long a process that took the day may take before another may take it over (one that died
# on another host is known only by its silence).
LEASE = timedelta(hours=6)


def _key(job: str) -> str:
    return f"daily:{job}"


async def take_day(
    ctx: ServiceContext,
    *,
    job: str,
    day: date,
    holder: str,
    gone: Callable[[str], bool] = lambda _holder: False,
) -> bool:
    """True when ``holder`` is to run ``job`` for ``day``: not done that day, and not taken by
    another process that still runs (``gone`` says one died) and is within its lease."""
    try:
        async with unit_of_work(ctx) as unit:
            # Locked on PostgreSQL: two instances at the same minute read it one after the other.
            query = select(Setting).where(Setting.key == _key(job)).with_for_update()
            row = (await unit.session.exec(query)).first()
            value = row.value if row is not None and isinstance(row.value, dict) else {}
            if value.get("day") == day.isoformat():
                other = str(value.get("holder"))
                if value.get("done"):
                    return False
                until = datetime.fromisoformat(str(value.get("until")))
                if other != holder and not gone(other) and until > unit.now:
                    return False
            row = row or Setting(key=_key(job))
            row.value = {
                "day": day.isoformat(),
                "holder": holder,
                "until": (unit.now + LEASE).isoformat(),
                "done": False,
            }
            unit.session.add(row)
    except IntegrityError:  # PostgreSQL: another instance made the row first and has the day
        return False
    return True


async def day_done(ctx: ServiceContext, *, job: str, day: date, holder: str) -> None:
    """Record that ``holder`` ran ``job`` for ``day``: no process runs it again that day."""
    async with unit_of_work(ctx) as unit:
        query = select(Setting).where(Setting.key == _key(job)).with_for_update()
        row = (await unit.session.exec(query)).first()
        if row is None or not isinstance(row.value, dict):
            return
        if row.value.get("day") == day.isoformat() and row.value.get("holder") == holder:
            row.value = {**row.value, "done": True}
            unit.session.add(row)
