"""The daily digest for community staff: where their communities stand, what is overdue, the crowd
(followed cases, merged duplicates), the three rates of yesterday and of this month (the same
figures as ``wolaiban stats``), a table per manager, and a chart of the last 14 days. Staff
without Telegram get a one-segment SMS instead.

Once a day per staff member: the outbox's idempotency key is the staff member and the local date,
so however many instances try, one digest goes out.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from bot.services.cases.parties import load_parties
from bot.services.cases.routing import policy_for, zone
from bot.services.digest.chart import Day, draw_chart
from bot.services.digest.crowd import crowd
from bot.services.staff.stats import Period, rates
from bot.services.unit.context import ServiceContext, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.outbox import Outbox
from bot.services.unit.reach import language_of
from bot.services.unit.work import unit_of_work
from core.cases import OPEN_STATUSES, Status
from core.tables import percent
from core.texts import render
from db import queries
from db.models import Case, Community, CommunityStaff, OutboxMessage, Person

CHART_DAYS = 14
MAX_OVERDUE_LISTED = 10
_OPEN = [s.value for s in OPEN_STATUSES]


async def staff_members(ctx: ServiceContext) -> list[str]:
    """Every active staff member of an active community."""
    async with ctx.db.reading() as session:
        query = (
            select(CommunityStaff.person_id)
            .join(Person, col(Person.id) == col(CommunityStaff.person_id))
            .where(col(Person.active))
            .distinct()
        )
        return sorted((await session.exec(query)).all())


async def send_digest(
    ctx: ServiceContext, *, person_id: str, on_demand: bool = False
) -> OutboxMessage | None:
    """Queue today's digest for ``person_id`` (None if it was sent already today)."""
    now = ctx.clock()
    async with ctx.db.reading() as session:
        tz = await zone(session)
        person = await queries.get_person(session=session, person_id=person_id)
        communities = (
            await session.exec(
                select(Community)
                .join(CommunityStaff, col(CommunityStaff.community_id) == col(Community.id))
                .where(CommunityStaff.person_id == person_id, col(Community.active))
                .order_by(col(Community.id))
            )
        ).all()
    if person is None or not communities:
        return None
    today = now.astimezone(tz).date()
    ids = [c.id for c in communities]
    language = language_of(person, ctx.default_language)
    key = f"digest:{person_id}:{today.isoformat()}" + (f":{now.isoformat()}" if on_demand else "")
    async with ctx.db.reading() as session:
        sent = select(OutboxMessage.id).where(col(OutboxMessage.idempotency_key).startswith(key))
        if (await session.exec(sent)).first() is not None:
            return None  # today's went out already (a restart, another instance)
    figures = await _figures(ctx, ids, today, now, tz, language)
    english = language == "en"
    names = "、".join(c.name_en if english else c.name_zh for c in communities)
    async with ctx.db.reading() as session:
        address = await Outbox(session, now, ctx.default_language, ctx.channels).address_of(person)
    # A plain-text channel (SMS) gets the short form, one segment, without the chart.
    by_sms = address is not None and ctx.channels.plain_text(address.channel)
    # Drawing takes a CPU second: in a worker process (the bot keeps answering, and matplotlib's
    # memory goes with the worker) and before the transaction (on SQLite it holds the write lock).
    # No chart, no photo: the text goes out all the same.
    chart = None if by_sms else await draw_chart(figures["days"], language)
    try:
        async with unit_of_work(ctx) as unit:
            outbox = unit.outbox
            if by_sms:
                # The crowd's figures only when there is a crowd: the usual text stays short.
                sms = "digest.sms_crowd" if "people" in figures["sms"] else "digest.sms"
                return await outbox.tell(person, sms, key=key, params=figures["sms"])
            text = _text(language, today, names, figures)
            message = await outbox.tell(person, "tg.raw", key=key, params={"text": text})
            if message is not None and chart is not None:
                await _chart(unit, person, key, chart, language)
            return message
    except IntegrityError:
        return None  # another instance queued it first: once a day is once a day


async def on_request(ctx: ServiceContext, inbound: Inbound) -> None:
    """``/digest``: today's digest now, for staff; anyone else hears it is for staff."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        if person.role != "staff":
            await unit.outbox.tell(person, "tg.not_staff", key=unit.key())
            return
    # Drawn after the request's unit (the chart takes a second outside any transaction).
    if await send_digest(ctx, person_id=person.id, on_demand=True) is None:
        async with unit_of_work(ctx) as unit:
            await unit.outbox.tell(person, "tg.not_staff", key=unit.key(f"digest:{person.id}"))


async def _chart(unit: Unit, person: Person, key: str, png: bytes, language: str) -> None:
    message = await unit.outbox.tell(person, "digest.chart_caption", key=f"{key}:chart")
    if message is not None:
        message.photo = png
        unit.session.add(message)


def _text(language: str, today: date, names: str, figures: dict[str, Any]) -> str:

    def say(key: str, **params: Any) -> str:
        return render(language, key, **params)

    lines = [say("digest.header", date=today.isoformat(), communities=names)]
    lines.append(say("digest.counts", **figures["counts"]))
    lines.append(say("digest.new", count=figures["new"]))
    overdue = figures["overdue"]
    if overdue:
        lines.append(say("digest.overdue_header"))
        lines += [say("digest.overdue_line", **row) for row in overdue[:MAX_OVERDUE_LISTED]]
    else:
        lines.append(say("digest.overdue_none"))
    if figures["escalated"]:
        lines.append(say("digest.escalated", numbers=figures["escalated"]))
    if figures["reopened"]:
        lines.append(say("digest.reopened", numbers=figures["reopened"]))
    lines += figures["crowd"].lines(language)
    for label, period in (("digest.yesterday", "yesterday"), ("digest.month", "month")):
        lines.append(say("digest.rates", label=say(label), **figures[period]))
    if figures["managers"]:
        lines.append(say("digest.managers_header"))
        lines += [say("digest.manager_line", **row) for row in figures["managers"]]
    return "\n".join(lines)


def _shown(found: Any) -> dict[str, Any]:
    return {
        "cases": found.cases,
        "response": percent(found.response_rate),
        "resolution": percent(found.resolution_rate),
        "satisfaction": percent(found.satisfaction_rate),
    }


async def _figures(
    ctx: ServiceContext,
    communities: list[str],
    today: date,
    now: datetime,
    tz: Any,
    language: str,
) -> dict[str, Any]:
    """Everything the digest says, computed once."""
    async with ctx.db.reading() as session:
        open_cases = (
            await session.exec(
                select(Case)
                .where(col(Case.community_id).in_(communities), col(Case.status).in_(_OPEN))
                .order_by(col(Case.number))
            )
        ).all()
        new = (
            await session.exec(
                select(func.count()).where(
                    col(Case.community_id).in_(communities),
                    col(Case.created_at) > now - timedelta(days=1),
                )
            )
        ).one()
        overdue = []
        for case in open_cases:
            late = _lateness(case, now)
            if late is None:
                continue
            holder = await _holder(session, case, language)
            category = await queries.get_category(session=session, category_id=case.category_id)
            name = (category.name_en if language == "en" else category.name_zh) if category else ""
            overdue.append((late, {"number": case.number, "category": name, "holder": holder}))
        crowded = await crowd(session, communities, open_cases, now - timedelta(days=1))
    overdue.sort(key=lambda item: -item[0].total_seconds())
    counts = Counter(c.status for c in open_cases)
    yesterday = today - timedelta(days=1)
    day_rates = await rates(ctx, period=Period(yesterday, yesterday), communities=communities)
    month = Period(today.replace(day=1), today)
    month_rates = await rates(ctx, period=month, communities=communities)
    managers = await rates(ctx, period=month, communities=communities, by="manager")
    names = await _people_names(ctx, list(managers))
    month_shown = _shown(month_rates[""])
    sms = {
        "date": today.strftime("%m-%d"),
        "open": len(open_cases),
        "overdue": len(overdue),
        "response": month_shown["response"],
    }
    if crowded.cases or crowded.merged:
        sms |= {"people": crowded.people, "merged": crowded.merged}
    return {
        "counts": {s.value: counts.get(s.value, 0) for s in OPEN_STATUSES},
        "new": new,
        "overdue": [{**row, "late": _late(late, language)} for late, row in overdue],
        "escalated": " ".join(f"#{c.number}" for c in open_cases if c.escalation_level > 0),
        "reopened": " ".join(f"#{c.number}" for c in open_cases if c.reopen_count > 0),
        "yesterday": _shown(day_rates[""]),
        "month": month_shown,
        "managers": [
            {"manager": names.get(key, key), **_shown(found)} for key, found in managers.items()
        ],
        "crowd": crowded,
        "days": await _days(ctx, communities, today),
        "sms": sms,
    }


def _lateness(case: Case, now: datetime) -> timedelta | None:
    """How far past its current deadline an open case is, or None."""
    if case.status == Status.ASSIGNED.value and case.acknowledged_at is None:
        deadline = case.ack_due_at
    elif case.status in (Status.ASSIGNED.value, Status.ACKNOWLEDGED.value):
        deadline = case.resolve_due_at
    else:
        return None
    return now - deadline if now > deadline else None


def _late(late: timedelta, language: str) -> str:
    hours = int(late.total_seconds() // 3600)
    if hours >= 48:
        return render(language, "digest.days", days=hours // 24)
    return render(language, "digest.hours", hours=max(hours, 1))


async def _holder(session: Any, case: Case, language: str) -> str:
    """Who holds the case now: its manager, or the level it has climbed to."""
    parties = await load_parties(session=session, case=case)
    policy = await policy_for(session=session, category_id=case.category_id)
    holders = parties.holders(case.escalation_level, policy.chain)
    return "、".join(p.name for p in holders) or render(language, "status.unassigned")


async def _people_names(ctx: ServiceContext, ids: list[str]) -> dict[str, str]:
    async with ctx.db.reading() as session:
        people = (await session.exec(select(Person).where(col(Person.id).in_(ids)))).all()
    return {p.id: p.name for p in people}


async def _days(ctx: ServiceContext, communities: list[str], today: date) -> list[Day]:
    """Reported, closed and the rates of each of the last ``CHART_DAYS`` days."""
    async with ctx.db.reading() as session:
        tz = await zone(session)
        start = datetime.combine(today - timedelta(days=CHART_DAYS - 1), time(), tz)
        rows = (
            await session.exec(
                select(Case.created_at, Case.closed_at, Case.status).where(
                    col(Case.community_id).in_(communities),
                    (col(Case.created_at) >= start) | (col(Case.closed_at) >= start),
                )
            )
        ).all()
    reported: Counter[date] = Counter()
    closed: Counter[date] = Counter()
    for created, closed_at, status in rows:
        reported[created.astimezone(tz).date()] += 1
        if closed_at is not None and status == Status.CLOSED.value:
            closed[closed_at.astimezone(tz).date()] += 1
    days = []
    for offset in range(CHART_DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        found = (await rates(ctx, period=Period(day, day), communities=communities))[""]
        days.append(
            Day(
                label=day.strftime("%m-%d"),
                reported=reported[day],
                closed=closed[day],
                response=found.response_rate,
                resolution=found.resolution_rate,
                satisfaction=found.satisfaction_rate,
            )
        )
    return days
