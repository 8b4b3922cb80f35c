"""A month of believable history beside the demo's stories, made by the use cases on a moved clock.

A few hundred cases across the directory's communities and categories: reported mostly by day and
more on weekdays, acknowledged mostly in time, resolved, rated, reopened after "not satisfied",
now and then cancelled, declined or rejected, a few still open or overdue at the end. Every change
is the product's own use case (``report``, ``lifecycle``, the sweep's ``run_due``) on a
ServiceContext whose clock steps through the month, so events, timers, reminders, escalations and
rates are the product's own. Seeded: the same seed and end give the same cases.

The demo plays it after the stories, with the stack stopped: the stories' cases stay #1–#3 (the
transcript names them), and no live sweep sees a month of timers at once. The history's context
runs no channel (an empty ChannelBook, as a process with every channel off): its changes are
recorded but nobody is told, so no message of it can reach the emulators or the transcript, and
nothing waits in the outbox afterwards. It is also several times cheaper than writing, rendering
and then settling thousands of messages nobody would read.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.cases.lifecycle import Request
from bot.services.cases.report import NewReport, report
from bot.services.cases.timers import run_due
from bot.services.directory.load import load_directory
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.traits import ChannelBook
from core.cases import Action, Rating, Status
from core.directory_checks import validate_directory
from core.policy import parse_duration
from db.models import Case
from sandbox.demo_people import NOTES, SPOTS, WHAT_EN, WHAT_ZH, residents

SEED = 24
DAYS = 30
PER_DAY = 12.0  # reports on an ordinary weekday
WEEKEND = 0.6  # a Saturday or Sunday has this share of them
# How many reports come in each local hour (0–23): few at night, peaks morning and evening.
HOURS = (1, 1, 0, 0, 0, 1, 2, 5, 9, 10, 9, 8, 6, 6, 7, 8, 8, 8, 9, 10, 9, 7, 4, 2)
BUSY = {"jzsj-south": 5, "bgy-north": 5, "yuanxiang": 4}  # the stories' communities; others 3
COMMON = {"parcels": 5, "sanitation": 5, "parking": 4, "noise": 3, "construction-waste": 3}
STALLED, STALE = 3, timedelta(hours=2)  # the last few reported this long ago are never answered
QUICK = ("parcels", "parking", "sanitation")  # often fixed at once, without acknowledging first
ACTIVE = (Status.ASSIGNED.value, Status.ACKNOWLEDGED.value, Status.RESOLVED.value)
# The live sweep runs every few seconds; here it runs on the tens of minutes: a reminder a few
# minutes late reads the same, and timers then share sweeps (each sweep is a few transactions).
SWEEP_EVERY = 600  # seconds

# When, and what: "report", an Action's value ("acknowledge", "resolve", …) or "rate:<1|2|3>".
Step = tuple[datetime, str]


@dataclass
class Clock:
    """The history's clock: it stands where the player puts it, until ``end``."""

    now: datetime
    end: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Plan:
    """One case to be: who reports what where, the steps it will take, and who holds it."""

    resident: str
    channel: str
    new: NewReport
    steps: list[Step]
    number: int = 0
    manager: str = ""  # as routed at the report
    holder: str | None = None  # who holds it now


@dataclass(frozen=True, slots=True)
class Town:
    """What the planner needs of the directory: its zone, people, staff and service levels."""

    tz: ZoneInfo
    channel: dict[str, str]  # person -> the channel they act on
    staff: dict[str, str]  # community -> its own staff member
    supervisor: dict[str, str]  # manager -> their supervisor
    ack: dict[str, timedelta]  # category -> ack_within
    resolve: dict[str, timedelta]  # category -> resolve_within
    urgent: frozenset[str]


@dataclass(frozen=True, slots=True)
class History:
    """What was made: how many cases, the residents added, the steps the product refused."""

    cases: int
    residents: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0


async def make_history(
    ctx: ServiceContext, data: dict[str, Any], *, end: datetime, seed: int = SEED, days: int = DAYS
) -> History:
    """Load ``data`` (real service levels) with the residents, then play ``days`` up to ``end``."""
    people = residents(data, ctx.default_language)
    directory = validate_directory({**data, "people": [*data["people"], *people]})
    assert not isinstance(directory, list), directory
    await load_directory(ctx, directory)
    town = _town(data)
    plans = _plans(random.Random(seed), data, town, people, end, days, ctx.default_language)
    clock = Clock(end - timedelta(days=days + 1), end)
    quiet = replace(ctx, clock=clock, channels=ChannelBook())  # no channel: nobody is told
    refused = await _play(quiet, clock, plans, end, town)
    return History(sum(1 for p in plans if p.number), people, refused)


def _town(data: dict[str, Any]) -> Town:
    """The directory as the planner reads it."""
    defaults, people, categories = data["defaults"], data["people"], data["categories"]

    def level(category: dict[str, Any], key: str) -> timedelta:
        return parse_duration(category.get(key, defaults[key]))

    return Town(
        tz=ZoneInfo(data.get("timezone", "Asia/Shanghai")),
        channel={p["id"]: "telegram" if p.get("telegram_id") else "sms" for p in people},
        staff={c["id"]: c["staff"][0] for c in data["communities"]},  # its own, not the town's
        supervisor={p["id"]: p["supervisor"] for p in people if p.get("supervisor")},
        ack={c["id"]: level(c, "ack_within") for c in categories},
        resolve={c["id"]: level(c, "resolve_within") for c in categories},
        urgent=frozenset(c["id"] for c in categories if c.get("urgent")),
    )


def _plans(
    rng: random.Random,
    data: dict[str, Any],
    town: Town,
    people: list[dict[str, Any]],
    end: datetime,
    days: int,
    language: str,
) -> list[Plan]:
    """Every case of the period with the steps it will take, in the order reported."""
    lang = 1 if language == "en" else 0
    what, spots = (WHAT_EN if lang else WHAT_ZH), SPOTS[lang].split("|")
    communities = [c["id"] for c in data["communities"]]
    categories = [c["id"] for c in data["categories"]]
    first = end.astimezone(town.tz).date() - timedelta(days=days)
    plans = []
    for day in (first + timedelta(days=d) for d in range(days + 1)):
        weight = WEEKEND if day.weekday() >= 5 else 1.0
        for _ in range(max(0, round(rng.gauss(PER_DAY * weight, 2.0)))):
            at = _moment(rng, day, town.tz)
            community = rng.choices(communities, [BUSY.get(c, 3) for c in communities])[0]
            category = rng.choices(categories, [COMMON.get(c, 2) for c in categories])[0]
            who = rng.choice([p for p in people if p["community"] == community])
            building, spot = who.get("building") or str(rng.randint(1, 30)), rng.choice(spots)
            place = f"Building {building}, {spot}" if lang else f"{building}号楼{spot}"
            text = rng.choice(what.get(category, what["other"]).split("|"))
            channel = "telegram" if "telegram_id" in who else "sms"
            steps = [(at, "report"), *_fate(rng, at, category, town)]
            plans.append(
                Plan(who["id"], channel, NewReport(community, category, text, place), steps)
            )
    plans.sort(key=lambda p: p.steps[0][0])
    # Nobody answers the last few: the clock reminds and climbs the chain; overdue now.
    for plan in [p for p in plans if p.steps[0][0] < end - STALE][-STALLED:]:
        del plan.steps[1:]
    return plans


def _moment(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    """A report's time on ``day``: an hour as busy as such hours are, any minute of it."""
    hour = rng.choices(range(24), HOURS)[0]
    local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tz)
    return local.astimezone(UTC)


def _fate(rng: random.Random, at: datetime, category: str, town: Town) -> list[Step]:
    """What follows a report: cancelled, rejected, or handled (in time or late) and rated."""
    # Declined ones are handed to the manager's supervisor first; "not satisfied" is redone once
    # and rated again, and staff close it when still not satisfied.
    steps: list[Step] = []

    def then(after: timedelta, action: str, awake: bool = True) -> None:
        when = ((steps[-1][0] if steps else at) + after).replace(microsecond=0)
        steps.append((_awake(rng, when, town.tz) if awake else when, action))

    ack, fix, urgent = town.ack[category], town.resolve[category], category in town.urgent
    draw = rng.random()
    if draw < 0.04:
        then(ack * rng.uniform(0.1, 0.6), "cancel", awake=False)
        return steps
    if draw < 0.09:
        then(timedelta(hours=rng.uniform(0.2, 1.5)), "reject")
        return steps
    if draw < 0.12:
        then(ack * rng.uniform(0.2, 0.8), "decline")
        then(timedelta(hours=rng.uniform(0.5, 3)), "reassign")
    late = rng.random() < (0.08 if urgent else 0.15)
    delay = ack * (rng.uniform(1.2, 3.5) if late else rng.uniform(0.1, 0.9))
    if category in QUICK and rng.random() < 0.4:
        then(delay, "resolve", awake=not urgent)  # a quick fix: resolved without a word first
    else:
        then(delay, "acknowledge", awake=not urgent)
        over = rng.random() < 0.06
        then(
            fix + timedelta(hours=rng.uniform(0.3, 2)) if over else fix * rng.uniform(0.03, 0.7),
            "resolve",
        )
    for weights in ((62, 28, 10), (45, 40, 15)):  # satisfied, basically, not satisfied
        if rng.random() < 0.08:
            return steps  # never rated: nudged, then closed unrated by the clock
        wait = timedelta(hours=rng.uniform(0.1, 4) if rng.random() < 0.6 else rng.uniform(4, 30))
        then(wait, "rate:" + rng.choices("123", weights)[0])
        if steps[-1][1] != "rate:3" or weights[0] != 62:
            break
        # Reopened one level up: taken on again at once and redone within hours.
        then(timedelta(minutes=rng.uniform(5, 40)), "acknowledge")
        then(timedelta(hours=rng.uniform(0.5, 3)), "resolve")
    if steps[-1][1] == "rate:3":
        then(timedelta(hours=rng.uniform(0.3, 1.5)), "close")  # not satisfied twice: staff step in
    return steps


def _awake(rng: random.Random, when: datetime, tz: ZoneInfo) -> datetime:
    """``when``, or, in the night (22:00–07:00 local), a time between 07:00 and 09:00."""
    local = when.astimezone(tz)
    if 7 <= local.hour < 22:
        return when
    day = local.date() + timedelta(days=1 if local.hour >= 22 else 0)
    morning = datetime.combine(day, time(7), tz) + timedelta(seconds=rng.randrange(7200))
    return morning.astimezone(UTC)


async def _play(
    ctx: ServiceContext, clock: Clock, plans: list[Plan], end: datetime, town: Town
) -> int:
    """Every plan's steps in time order, the sweep between them; how many steps were refused."""
    # A refused step ends its plan (the product's rules, not the plan's, decide what may happen).
    agenda = [(plan.steps[0][0], i, 0) for i, plan in enumerate(plans)]
    heapq.heapify(agenda)
    timers: dict[int, datetime] = {}  # the open cases' next_due_at, as the use cases left them
    refused = 0
    while agenda and agenda[0][0] <= end:
        at, i, s = heapq.heappop(agenda)
        await _sweep(ctx, clock, at, timers)
        clock.now = at
        try:
            case = await _step(ctx, plans[i], plans[i].steps[s][1], town)
        except ServiceRefusal:
            refused += 1
            continue
        assert case.number is not None
        timers.pop(case.number, None)
        if case.next_due_at is not None and case.status in ACTIVE:
            timers[case.number] = case.next_due_at
        if s + 1 < len(plans[i].steps):
            heapq.heappush(agenda, (plans[i].steps[s + 1][0], i, s + 1))
    await _sweep(ctx, clock, end, timers)
    clock.now = end
    return refused


async def _sweep(
    ctx: ServiceContext, clock: Clock, until: datetime, timers: dict[int, datetime]
) -> None:
    """The scheduler's sweep at each tick up to ``until`` at which a timer has run out."""
    # At the end, whatever is due is swept at ``until`` itself; ``timers`` are read anew after
    # each sweep, which moves many of them at once.
    while timers and (due := min(timers.values())) <= until:
        tick = due + timedelta(seconds=-due.timestamp() % SWEEP_EVERY)
        if tick > until and until < clock.end:
            return  # the next step comes first; the sweep follows at its tick
        clock.now = max(clock.now, min(tick, until))
        # As many as are due: the sweep then stops without looking once more for none.
        await run_due(ctx, limit=sum(1 for at in timers.values() if at <= clock.now))
        async with ctx.db.reading() as session:
            query = select(Case.number, Case.next_due_at).where(
                col(Case.status).in_(ACTIVE), col(Case.next_due_at).is_not(None)
            )
            timers.clear()
            timers.update({n: at for n, at in (await session.exec(query)).all() if at and n})


async def _step(ctx: ServiceContext, plan: Plan, action: str, town: Town) -> Case:
    """One step of a plan, by whoever takes it, through the use case a channel would call."""
    if action == "report":
        case = await report(ctx, resident_id=plan.resident, channel=plan.channel, new=plan.new)
        assert case.number is not None
        plan.number, plan.manager, plan.holder = case.number, case.manager_id or "", case.manager_id
        return case
    kind, _, code = action.partition(":")
    note = NOTES[action][1 if ctx.default_language == "en" else 0] if action in NOTES else ""
    staff = Actor(town.staff[plan.new.community_id], "web")  # staff work in the console
    holder = Actor(plan.holder, town.channel[plan.holder]) if plan.holder else staff
    actor = {
        "rate": Actor(plan.resident, plan.channel),
        "cancel": Actor(plan.resident, plan.channel),
    }
    actor |= {"acknowledge": holder, "resolve": holder, "decline": holder}
    chosen = town.supervisor[plan.manager] if kind == "reassign" else None  # the manager's own
    request = Request(Action(kind), rating=Rating.from_code(code), manager_id=chosen, note=note)
    case = await lifecycle.act(
        ctx, number=plan.number, actor=actor.get(kind, staff), request=request
    )
    plan.holder = case.manager_id
    return case
