"""The suggestion query over 100,000 open cases: how long a new report waits to be offered the
open cases it may be the same problem as, next to the same query without its index.

The database is made the way production makes it (the real migrations), with a directory of 20
communities (the example's six and fourteen more, 24-48 buildings each) and the example's ten
categories, then filled with Core bulk inserts in the order time wrote them: ``--cases`` open
cases (100,000) reported over the last 30 days and ``--closed`` closed ones (100,000) over the
last year. Reports spread as they do: a few communities, categories and buildings much busier than
the rest (Zipf-like weights), 8 % of locations naming no building the directory lists. The follow
window is the default 3 days, so about a tenth of the open cases fall inside it.

Then ``--probes`` new reports (every other one naming a building; drawn from the same spread, so
the busy keys are asked most, or with ``--uniform`` evenly over every community, category and
building, so the quiet keys are asked as often) are each offered suggestions, the two ways the
product asks:

- the query: ``following.suggestion_query(..., limit=1)`` executed on the writer's connection
  as ``write_sms_report`` runs it on the SMS hot path (where a slow one holds every other
  write), timed inside the writer's turn around ``suggestions_of(execute(...))``. Its p99, with a
  building and without one, is what the target holds: it is the database's work and the
  driver's, and little else. Beside it its floor: one case by its number, the same way;
- ``following.suggestions(session, ...)`` in a read transaction, its connection checked out
  before the clock starts (the guided Telegram report: the category's window from the
  directory, then the same statement, limit 3, through the async driver). Shown beside its
  floor: the same path with a one-row primary-key SELECT in place of the suggestion query,
  which is what the session, the driver and this machine's load add to any query.

The baseline is the same probes, in the same run, after ``DROP INDEX ix_cases_suggest`` in this
scratch database (PostgreSQL analysed again): the planner left with the table's other indexes.
Then, while the schema's index is another, the same probes with an index on (community_id,
category_id, created_at, building) in its place: one backward range scan for both shapes of the
query. Every run must offer every probe the same cases. The plans of the busiest key (EXPLAIN
QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL, of the statement exactly as sent) are
printed for each index.

    python -m bench.suggest [--quick] [--cases 100000] [--closed 100000] [--probes 2000]
                            [--uniform] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when a p99 of the query with ``ix_cases_suggest`` misses 5 ms, or when the runs offered
different cases.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event, insert, inspect, text
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Connection
from sqlmodel import col, func, select

from bench.bulk import prepare
from bench.common import Figure, machine_note, percentile, print_table
from bench.retention import database
from bot import heap
from bot.services.cases.following import suggestion_query, suggestions, suggestions_of
from bot.services.cases.routing import policy_for
from bot.services.directory.load import load_directory
from core.cases import OPEN_STATUSES
from core.directory import Directory
from core.directory_checks import validate_directory
from db.engine import Database
from db.models import Case, CaseFollower
from sandbox.harness import MORNING, example_data

TARGET_MS, FULL_SIZE = 5.0, 100_000
NOW = MORNING
INDEX = "ix_cases_suggest"
OPEN_SPAN, CLOSED_SPAN = timedelta(days=30), timedelta(days=365)
EXTRA_COMMUNITIES, NO_BUILDING, CHUNK, WARM_UP, RESIDENTS = 14, 0.08, 5000, 50, 20_000
# How often each category is reported (parcels and rubbish far more than lifts).
CATEGORY_WEIGHTS = {"parcels": 20, "sanitation": 18, "parking": 15, "noise": 10,
                    "broken-facility": 9, "water-leak": 8, "construction-waste": 6, "other": 5,
                    "elevator": 5, "safety-hazard": 4}  # fmt: skip
OPEN_MIX = {"unassigned": 2, "assigned": 40, "acknowledged": 40, "resolved": 18}
KINDS = ("with a building", "no building")
PROPOSAL = "bench_ix_cases_suggest_by_time"
PROPOSAL_COLUMNS = ["community_id", "category_id", "created_at", "building"]
WITH, WITHOUT = f"with {INDEX}", f"without {INDEX} (dropped)"
PROPOSED = f"with {PROPOSAL} ({', '.join(PROPOSAL_COLUMNS)}) instead"
OPEN = [s.value for s in OPEN_STATUSES]
QUERY, SUGGESTIONS = "the query", "  suggestions()"

Row = dict[str, Any]


def resident(n: int) -> str:
    """The id of bench resident ``n`` (met by SMS, as a stranger is)."""
    return f"sms-+86137{n:08d}"


def zipf(count: int, rng: random.Random, s: float = 0.8) -> list[float]:
    """Weights of ``count`` things, a few much busier than the rest, in a random order."""
    weights = [1 / (rank + 1) ** s for rank in range(count)]
    rng.shuffle(weights)
    return weights


@dataclass
class Spread:
    """Where reports come from: communities, their buildings and categories, each weighted."""

    communities: list[str]
    community_weights: list[float]
    buildings: dict[str, list[str]]
    building_weights: dict[str, list[float]]
    categories: list[str]
    category_weights: list[float]
    managers: dict[str, str]

    def key(self, rng: random.Random, building: bool | None = None) -> tuple[str, str, str]:
        """A (community, category, building) as a report has them; ``building`` False: none,
        None: none as often as locations name none."""
        community = rng.choices(self.communities, self.community_weights)[0]
        category = rng.choices(self.categories, self.category_weights)[0]
        if building is False or (building is None and rng.random() < NO_BUILDING):
            return community, category, ""
        place = rng.choices(self.buildings[community], self.building_weights[community])[0]
        return community, category, place

    def any_key(self, rng: random.Random, building: bool) -> tuple[str, str, str]:
        """A (community, category, building) drawn evenly: the quiet keys as often as the busy."""
        community = rng.choice(self.communities)
        place = rng.choice(self.buildings[community]) if building else ""
        return community, rng.choice(self.categories), place


def bench_directory(rng: random.Random) -> tuple[Directory, Spread]:
    """The example directory grown to 20 communities with 24-48 buildings each."""
    data = example_data()
    managers = [route["manager"] for route in data["routing"]]
    for n in range(1, EXTRA_COMMUNITIES + 1):
        community = f"bench-{n:02d}"
        data["communities"].append(
            {"id": community, "name": {"zh": f"压测社区{n}", "en": f"Bench community {n}"}}
        )
        data["routing"].append(
            {"community": community, "category": "*", "manager": managers[n % len(managers)]}
        )
    buildings: dict[str, list[str]] = {}
    for community in data["communities"]:
        listed = [str(b) for b in community.get("buildings") or []]
        count = rng.randint(24, 48)
        more = [str(b) for b in range(1, 200) if str(b) not in listed]
        community["buildings"] = buildings[community["id"]] = listed + more[: count - len(listed)]
    directory = validate_directory(data)
    if isinstance(directory, list):
        raise SystemExit(f"the bench directory is refused: {directory}")
    routes = {route["community"]: route["manager"] for route in data["routing"]}
    categories = [c.id for c in directory.categories]
    spread = Spread(
        communities=list(buildings),
        community_weights=zipf(len(buildings), rng),
        buildings=buildings,
        building_weights={c: zipf(len(b), rng) for c, b in buildings.items()},
        categories=categories,
        category_weights=[CATEGORY_WEIGHTS.get(c, 3) for c in categories],
        managers=routes,
    )
    return directory, spread


def _row(number: int, at: datetime, status: str, key: tuple[str, str, str], spread: Spread,
         rng: random.Random) -> Row:  # fmt: skip
    community, category, building = key
    place = f"{building}号楼门口" if building else "小区东门外"
    acked = min(at + timedelta(minutes=rng.uniform(2, 40)), NOW) if status != "unassigned" else None
    ended = resolved = None
    if status == "resolved" and acked is not None:
        resolved = acked + (NOW - acked) * rng.random()
    if status == "closed":
        ended = at + min(NOW - at, timedelta(days=5)) * rng.random()
        acked = min(acked or at, ended)
    return dict(
        number=number, status=status, community_id=community, category_id=category,
        location=place, building=building, description=f"压测诉求 {number}：{place}",
        channel="sms" if number % 2 else "telegram",
        resident_id=resident(rng.randrange(RESIDENTS)),
        manager_id=None if status == "unassigned" else spread.managers[community],
        escalation_level=0, reopen_count=0, reminders_sent=0,
        rating="satisfied" if ended else None, duplicate_of=None,
        followers=rng.choice((0, 0, 0, 0, 1, 2, 3)) if ended is None else 0,
        ack_due_at=at + timedelta(minutes=30), resolve_due_at=at + timedelta(hours=72),
        next_due_at=None if ended else at + timedelta(hours=rng.uniform(1, 96)), created_at=at,
        acknowledged_at=acked, resolved_at=ended or resolved, closed_at=ended,
        updated_at=ended or resolved or acked or at,
    )  # fmt: skip


async def fill(db: Database, spread: Spread, cases: int, closed: int, seed: int = 23) -> int:
    """The open and closed cases, numbered in the order they were reported, in chunks; the
    followers of the open ones (``case_follower``: the query leaves out what a reporter follows)."""
    rng = random.Random(seed)
    states = list(OPEN_MIX)
    weights = list(OPEN_MIX.values())
    made = [(NOW - OPEN_SPAN * rng.random(), rng.choices(states, weights)[0]) for _ in range(cases)]
    made += [(NOW - CLOSED_SPAN * rng.random(), "closed") for _ in range(closed)]
    made.sort()
    followed = 0
    for start in range(0, len(made), CHUNK):
        rows = [
            _row(start + i + 1, at, status, spread.key(rng), spread, rng)
            for i, (at, status) in enumerate(made[start : start + CHUNK])
        ]
        followers = [
            dict(case_number=row["number"], person_id=resident(who), channel="sms",
                 via_case=None, rating=None, since=row["created_at"] + timedelta(minutes=5))
            for row in rows
            for who in rng.sample(range(RESIDENTS), row["followers"])
        ]  # fmt: skip
        async with db.engine.begin() as conn:
            await conn.execute(insert(Case.__table__), rows)  # type: ignore[attr-defined]
            if followers:
                await conn.execute(insert(CaseFollower.__table__), followers)  # type: ignore[attr-defined]
        followed += len(followers)
    if not db.is_sqlite:  # numbers were given: move the sequence on; what autovacuum would do
        async with db.engine.begin() as conn:
            sequence = "pg_get_serial_sequence('cases', 'number')"
            await conn.execute(text(f"SELECT setval({sequence}, max(number)) FROM cases"))
            await conn.execute(text("ANALYZE cases"))
            await conn.execute(text("ANALYZE case_follower"))
    return followed


@dataclass(frozen=True, slots=True)
class Probe:
    """A new report about to be offered suggestions."""

    community: str
    category: str
    building: str
    reporter: str

    @property
    def kind(self) -> str:
        return KINDS[0] if self.building else KINDS[1]

    def query(self, since: datetime) -> Any:
        """The query as an SMS report runs it (``write_sms_report``: limit 1)."""
        return suggestion_query(
            community_id=self.community,
            category_id=self.category,
            building=self.building,
            since=since,
            exclude_resident=self.reporter,
            limit=1,
        )


@dataclass
class Run:
    """Seconds per probe of ``suggestions()`` and of the query on the writer's connection, and
    of their floors; the numbers offered."""

    seconds: list[float]
    statement: list[float]
    offered: list[tuple[int, ...]]
    floor: list[float]
    statement_floor: list[float]

    def of(self, probes: Sequence[Probe], kind: str, statement: bool = False) -> list[float]:
        """The seconds of the probes of ``kind``."""
        values = self.statement if statement else self.seconds
        return [v for v, p in zip(values, probes, strict=True) if p.kind == kind]


async def offer(db: Database, probe: Probe) -> tuple[float, tuple[int, ...]]:
    """``suggestions()`` in a read transaction, as the guided report asks (the pool's checkout
    before the clock starts)."""
    async with db.reading() as session:
        await session.connection()
        started = time.perf_counter()
        found = await suggestions(
            session,
            community_id=probe.community,
            category_id=probe.category,
            building=probe.building,
            now=NOW,
            exclude_resident=probe.reporter,
        )
        seconds = time.perf_counter() - started
    return seconds, tuple(s.number for s in found)


def statement_on(
    conn: Connection, probe: Probe, since: datetime, number: int
) -> tuple[float, float, tuple[int, ...]]:
    """The query on the writer's connection as an SMS report runs it (``write_sms_report``:
    ``limit=1``, after the unit's first statements), timed inside the writer's turn; then its
    floor, one case by its number the same way."""
    query = probe.query(since)
    # The transaction under way (BEGIN sent), as the unit's earlier reads leave it.
    conn.exec_driver_sql("SELECT 1")
    started = time.perf_counter()
    found = suggestions_of(conn.execute(query))
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute(select_columns(col(Case.number)).where(col(Case.number) == number)).all()
    return seconds, time.perf_counter() - started, tuple(s.number for s in found)


async def measure(db: Database, probes: list[Probe], windows: dict[str, timedelta]) -> Run:
    """Every probe both ways and their floors, after ``WARM_UP`` untimed ones (statement caches,
    pages)."""
    run = Run([], [], [], [], [])
    for number, probe in enumerate(probes[:WARM_UP], 1):
        await offer(db, probe)
        since = NOW - windows[probe.category]
        await db.write(partial(statement_on, probe=probe, since=since, number=number))
    for number, probe in enumerate(probes, 1):
        seconds, offered = await offer(db, probe)
        run.floor.append(await floor(db, probe, number))
        since = NOW - windows[probe.category]
        work = partial(statement_on, probe=probe, since=since, number=number)
        alone, bottom, same = await db.write(work)
        if same != offered[:1]:
            raise SystemExit(f"{probe}: suggestions() offered {offered}, the query {same}")
        run.seconds.append(seconds)
        run.statement.append(alone)
        run.statement_floor.append(bottom)
        run.offered.append(offered)
    return run


def capture_statements(db: Database) -> list[tuple[str, Any]]:
    """The statements (as sent to the driver, with their parameters) of executions made with
    the execution option ``bench_capture``: EXPLAIN is run on exactly what the product sends."""
    captured: list[tuple[str, Any]] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if conn.get_execution_options().get("bench_capture"):
            captured.append((statement, parameters))

    return captured


async def plan(
    db: Database, captured: list[tuple[str, Any]], probe: Probe, since: datetime
) -> list[str]:
    """The database's plan for ``probe``'s query, one line per step."""
    query = probe.query(since)
    async with db.engine.connect() as conn:
        await conn.execution_options(wolaiban_read_only=True, bench_capture=True)
        await conn.execute(query)
        statement, parameters = captured.pop()
        await conn.execution_options(bench_capture=False)
        if db.is_sqlite:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [str(row[-1]) for row in rows]
        explain = "EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF)"
        rows = await conn.exec_driver_sql(f"{explain} {statement}", parameters)
        return [str(row[0]) for row in rows]


async def floor(db: Database, probe: Probe, number: int) -> float:
    """Seconds of ``offer``'s path with the cheapest statement in place of the suggestion query
    (the category's window, then one case by its number): what the session, the driver and
    this machine's load add to any query, whatever the index."""
    async with db.reading() as session:
        await session.connection()
        started = time.perf_counter()
        await policy_for(session=session, category_id=probe.category)
        one = select_columns(col(Case.number)).where(col(Case.number) == number)
        (await (await session.connection()).execute(one)).all()
        return time.perf_counter() - started


async def ddl(db: Database, sql: str) -> None:
    """DDL in its own transaction (PostgreSQL analysed again), then an empty pool: no pooled
    connection keeps a statement planned before it."""
    async with db.engine.begin() as conn:
        await conn.execute(text(sql))
        if not db.is_sqlite:
            await conn.execute(text("ANALYZE cases"))
    await db.engine.dispose()


def _ms(values: list[float], p: int | None) -> float:
    return (max(values) if p is None else percentile(values, p)) * 1000


def figures_of(probes: list[Probe], runs: dict[str, Run]) -> list[Figure]:
    """Per kind of probe, percentiles beside the baseline's, the target on the query's p99; then
    the proposed index's, and the floors."""
    bare = runs[WITHOUT]
    rows = [(QUERY, True, (50, 95, 99, None)), (SUGGESTIONS, False, (50, 99, None))]
    found = []
    for kind in KINDS:
        for label, statement, points in rows:
            mine = runs[WITH].of(probes, kind, statement)
            for p in points:
                held = p == 99 and statement
                value = _ms(mine, p)
                found.append(
                    Figure(
                        f"{label}, {kind} ({len(mine)}): {'max' if p is None else f'p{p}'}",
                        value,
                        "ms",
                        _ms(bare.of(probes, kind, statement), p),
                        f"≤ {TARGET_MS:g} ms" if held else "",
                        value <= TARGET_MS if held else None,
                        digits=2,
                    )
                )
    for kind in KINDS if PROPOSED in runs else ():
        for label, statement, _ in rows:
            mine = runs[PROPOSED].of(probes, kind, statement)
            theirs = bare.of(probes, kind, statement)
            found += [
                Figure(f"{label}, {kind}, proposed index: p{p}", _ms(mine, p), "ms",
                       _ms(theirs, p), digits=2)
                for p in (50, 99)
            ]  # fmt: skip
    for label, mine, theirs in (
        (QUERY, runs[WITH].statement_floor, bare.statement_floor),
        (SUGGESTIONS, runs[WITH].floor, bare.floor),
    ):
        found += [
            Figure(f"{label}'s floor, a one-row SELECT: p{p}", _ms(mine, p), "ms",
                   _ms(theirs, p), digits=2)
            for p in (50, 99)
        ]  # fmt: skip
    offered = list(runs.values())
    same = sum(len(set(each)) == 1 for each in zip(*(r.offered for r in offered), strict=True))
    counts = Counter(min(len(o), 3) for o in runs[WITH].offered)
    found += [
        Figure("probes offered the same cases by every run", same, f"/ {len(probes):,}",
               target="all", passed=same == len(probes), digits=0),
        Figure("probes offered 0 / 1 / 2 / 3 cases", None,
               target=" / ".join(str(counts[n]) for n in range(4))),
    ]  # fmt: skip
    return found


async def main(args: argparse.Namespace) -> int:
    """Fill, probe with the index, without it and with the proposal; print; 1 on a miss."""
    print(machine_note())
    rng = random.Random(args.seed)
    directory, spread = bench_directory(rng)
    async with database(args) as db:
        backend = "SQLite" if db.is_sqlite else "PostgreSQL"
        ctx = await prepare(db, lambda: NOW, directory=False)
        await load_directory(ctx, directory)
        started = time.perf_counter()
        followers = await fill(db, spread, args.cases, args.closed)
        print(
            f"{backend}: {args.cases:,} open cases over {OPEN_SPAN.days} days and "
            f"{args.closed:,} closed over {CLOSED_SPAN.days}, {len(spread.communities)} "
            f"communities × {len(spread.categories)} categories × 24-48 buildings, "
            f"{followers:,} followers, inserted in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        async with db.reading() as session:
            windows = {
                c: (await policy_for(session=session, category_id=c)).levels.follow_window
                for c in spread.categories
            }
            window = max(windows.values())
            inside = (
                await session.exec(
                    select(func.count())
                    .select_from(Case)
                    .where(col(Case.created_at) >= NOW - window, col(Case.status).in_(OPEN))
                )
            ).one()
            indexes = await (await session.connection()).run_sync(
                lambda sync: inspect(sync).get_indexes("cases")
            )
        print(f"open cases inside the {window.days}-day window: {inside:,}", flush=True)
        heap.settle()  # as ``run`` does once it listens: the fill's objects out of the GC's way

        draw = spread.any_key if args.uniform else spread.key
        probes = [
            Probe(*draw(rng, n % 2 == 0), resident(rng.randrange(RESIDENTS)))
            for n in range(args.probes)
        ]
        busiest = Counter((p.community, p.category, p.building) for p in probes if p.building)
        (community, category, building), _ = busiest.most_common(1)[0]
        shown = [
            Probe(community, category, building, "nobody"),
            Probe(community, category, "", "nobody"),
        ]
        captured = capture_statements(db)
        plans: dict[str, list[list[str]]] = {}
        runs: dict[str, Run] = {}

        async def phase(name: str) -> None:
            plans[name] = [await plan(db, captured, p, NOW - window) for p in shown]
            runs[name] = await measure(db, probes, windows)
            print(f"{name}: {len(probes):,} probes timed", flush=True)

        await phase(WITH)
        await ddl(db, f"DROP INDEX {INDEX}")
        await phase(WITHOUT)
        # Measured only while the schema's index is another: the change the plans call for.
        if PROPOSAL_COLUMNS not in [list(i["column_names"]) for i in indexes]:
            columns = ", ".join(PROPOSAL_COLUMNS)
            await ddl(db, f"CREATE INDEX {PROPOSAL} ON cases ({columns})")
            await phase(PROPOSED)

    for title, found in plans.items():
        for probe, lines in zip(shown, found, strict=True):
            place = f"building {probe.building!r}" if probe.building else "no building"
            print(f"\nplan {title}: {probe.community}/{probe.category}, {place}")
            print("\n".join(f"  {line}" for line in lines))
    misses = print_table(
        f"The suggestion query on {backend}: {args.cases:,} open cases, {args.closed:,} closed, "
        f"{args.probes:,} probes{' drawn evenly' if args.uniform else ''} "
        f"(baseline: the same probes after DROP INDEX {INDEX})",
        figures_of(probes, runs),
    )
    print(f"\n{machine_note()}")
    return 1 if misses else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="open cases (default 100,000)")
    parser.add_argument("--closed", type=int, help="closed cases besides (default 100,000)")
    parser.add_argument("--probes", type=int, help="new reports offered suggestions (2,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--uniform", action="store_true", help="probes drawn evenly over the keys, not as reported"
    )
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    parser.add_argument("--quick", action="store_true", help="10,000 + 10,000 cases, 400 probes")
    args = parser.parse_args(argv)
    args.cases = args.cases if args.cases is not None else (10_000 if args.quick else FULL_SIZE)
    args.closed = args.closed if args.closed is not None else args.cases
    args.probes = args.probes or (400 if args.quick else 2000)
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
