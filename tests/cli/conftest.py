"""Command-line test helpers: ``wolaiban`` run in-process on a temporary SQLite file with a clean
environment, table snapshots, and one set of cases built through the real services.

``bot.cli.main`` calls ``asyncio.run``, so the tests that use these helpers are plain functions.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from bot.channels import BOOK
from bot.cli.main import main
from bot.directory_file import read_directory
from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from db.engine import Database, open_database
from db.migrate import upgrade
from db.search import SEARCH_TABLES
from tests.conftest import EXAMPLE, Clock

T = TypeVar("T")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Every variable of docs/reference.md §2 (and the proxies httpx would follow): none leaks in
# from outside.
SETTINGS = [
    *("DATABASE_URL", "DIRECTORY_FILE", "TIMEZONE", "DEFAULT_LANGUAGE", "LOG_LEVEL"),
    *("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET"),
    *("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_API_URL"),
    *("TWILIO_MESSAGING_SERVICE_SID", "PUBLIC_URL", "HTTP_HOST", "HTTP_PORT"),
    *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"),
]


@dataclass(frozen=True)
class Outcome:
    """What one ``wolaiban`` command did: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


@dataclass
class Cli:
    """``wolaiban`` in this test's environment, and the database it works on."""

    path: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    def __call__(self, *argv: str | Path) -> Outcome:
        self.capsys.readouterr()  # only this command's output counts
        code = main([str(a) for a in argv])
        out, err = self.capsys.readouterr()
        return Outcome(code, out, err)

    def json(self, *argv: str | Path) -> Any:
        """Run a command with ``--json``; it must succeed and print nothing but JSON."""
        done = self(*argv, "--json")
        assert done.code == 0, done.err
        return json.loads(done.out)

    def services(self, clock: Clock, work: Callable[[ServiceContext], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` through the real services on the same database, at ``clock``'s time."""

        async def run() -> T:
            db = open_database(self.url)
            try:
                return await work(ServiceContext(channels=BOOK, db=db, clock=clock))
            finally:
                await db.dispose()

        return asyncio.run(run())

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (see ``table_contents``)."""

        async def run() -> dict[str, list[tuple[Any, ...]]]:
            db = open_database(self.url)
            try:
                return await table_contents(db)
            finally:
                await db.dispose()

        return asyncio.run(run())


async def table_contents(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the database holds: equal snapshots mean nothing changed. The
    search index's tables are left out: derived from the cases, their bytes are how the index
    laid them out (segments merge as it grows), not what anyone stored."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for name in sorted(set(names) - SEARCH_TABLES):
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()
            found[name] = sorted((tuple(row) for row in rows), key=repr)
    return found


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``wolaiban`` with only DATABASE_URL set (a fresh SQLite file), run in an empty folder."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no stray .env is read
    runner = Cli(tmp_path / "wolaiban.db", capsys)
    monkeypatch.setenv("DATABASE_URL", runner.url)
    return runner


@pytest.fixture
def loaded_cli(cli: Cli) -> Cli:
    """The command line with the example directory loaded through it."""
    done = cli("directory", "load", EXAMPLE)
    assert done.code == 0, done.err
    return cli


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall-clock time."""
    return datetime.combine(day, time(hour, minute), SHANGHAI)


# The people of examples/changyang.yaml the scenario uses.
RES_J, RES_B, RES_Y, RES_W = "r-jzsj-172", "r-bgy-72", "r-yuanxiang-5", "r-yunwan-en"
MGR_J, MGR_B, MGR_Y = "mgr-jzsj-south", "mgr-bgy-north", "mgr-yuanxiang"
STAFF_Y = "yangzhao"
TG, SMS = Channel.TELEGRAM, Channel.SMS


async def build_scenario(ctx: ServiceContext, clock: Clock, day1: date) -> dict[int, int]:
    """Ten cases over two days (day1, day1 + 1), each one step at a time on ``clock``.

    Returns label -> case number. Labels and what happens (ack due 30m after the report; the
    resolve deadline is 72h, 48h for construction waste):

    1  jzsj-south  acked in time, resolved, rated satisfied            -> closed
    2  jzsj-south  acked 45m after the report (late), resolved, basic  -> closed
    3  jzsj-south  acked in time, resolved, rated dissatisfied         -> reopened, left open
    4  bgy-north   acked in time, resolved, never rated                -> closed unrated (day 4)
    5  bgy-north   cancelled by the resident before anyone answered    -> cancelled
    6  bgy-north   reported day 2 at 07:30 Beijing (day 1 in UTC), nobody answers
    7  yuanxiang   acked in time, then closed by staff, never resolved -> closed
    8  yuanxiang   rejected by staff as a duplicate of 7               -> rejected
    9  bgy-north   dissatisfied once, fixed again, then satisfied      -> closed, reopened once
    11 jzsj-south  declined by the manager                             -> unassigned
    """
    day2 = day1 + timedelta(days=1)
    n: dict[int, int] = {}

    async def new(label: int, when: datetime, who: str, where: str, what: str = "parcels") -> int:
        clock.now = when
        text = f"第{label}件：路上堆满了东西"
        case = await report(
            ctx,
            resident_id=who,
            channel=TG,
            new=NewReport(where, what, text, location=f"{label}号楼"),
        )
        assert case.number is not None
        n[label] = case.number
        return case.number

    def at(day: date, hour: int, minute: int) -> None:
        clock.now = local(day, hour, minute)

    c = await new(1, local(day1, 9, 0), RES_J, "jzsj-south")
    at(day1, 9, 10)
    await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_J, TG))
    at(day1, 9, 40)
    await lifecycle.resolve(ctx, number=c, actor=Actor(MGR_J, TG), note="已清理")
    at(day1, 9, 50)
    await lifecycle.rate(ctx, number=c, actor=Actor(RES_J, TG), rating=Rating.SATISFIED)

    c = await new(2, local(day1, 10, 0), RES_J, "jzsj-south")
    at(day1, 10, 45)
    await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_J, TG))
    at(day1, 10, 50)
    await lifecycle.resolve(ctx, number=c, actor=Actor(MGR_J, TG))
    at(day1, 10, 55)
    rating = Rating.BASICALLY_SATISFIED
    await lifecycle.rate(ctx, number=c, actor=Actor(RES_J, TG), rating=rating)

    c = await new(3, local(day1, 11, 0), RES_J, "jzsj-south")
    at(day1, 11, 5)
    await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_J, TG))
    at(day1, 11, 30)
    await lifecycle.resolve(ctx, number=c, actor=Actor(MGR_J, TG))
    at(day1, 11, 40)
    rating, note = Rating.DISSATISFIED, "还有快递堆着"
    await lifecycle.rate(ctx, number=c, actor=Actor(RES_J, TG), rating=rating, note=note)

    c = await new(4, local(day1, 12, 0), RES_B, "bgy-north", "construction-waste")
    at(day1, 12, 20)
    await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_B, TG))
    at(day1, 12, 40)
    await lifecycle.resolve(ctx, number=c, actor=Actor(MGR_B, TG))

    c = await new(5, local(day1, 13, 0), RES_B, "bgy-north")
    at(day1, 13, 10)
    await lifecycle.cancel(ctx, number=c, actor=Actor(RES_B, SMS))

    await new(6, local(day2, 7, 30), RES_B, "bgy-north", "sanitation")

    c = await new(7, local(day2, 8, 0), RES_Y, "yuanxiang")
    at(day2, 8, 15)
    await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_Y, SMS))

    # A duplicate merged into #7 while it is open (a merge into a closed case is refused).
    c = await new(8, local(day2, 8, 16), RES_Y, "yuanxiang")
    at(day2, 8, 18)
    await lifecycle.reject(ctx, number=c, actor=Actor(STAFF_Y, TG), duplicate_of=n[7])
    at(day2, 8, 20)
    await lifecycle.close(ctx, number=n[7], actor=Actor(STAFF_Y, TG), note="社区已自行处理")

    c = await new(9, local(day2, 9, 0), RES_B, "bgy-north")
    for start, rating in ((10, Rating.DISSATISFIED), (50, Rating.SATISFIED)):
        at(day2, 9, start)
        await lifecycle.acknowledge(ctx, number=c, actor=Actor(MGR_B, TG))
        at(day2, 9, start + 5)
        await lifecycle.resolve(ctx, number=c, actor=Actor(MGR_B, TG))
        at(day2, 9, start + 8)
        await lifecycle.rate(ctx, number=c, actor=Actor(RES_B, SMS), rating=rating)

    c = await new(11, local(day2, 11, 0), RES_J, "jzsj-south")
    at(day2, 11, 5)
    await lifecycle.decline(ctx, number=c, actor=Actor(MGR_J, TG), note="不归物业管")

    at(day1 + timedelta(days=3), 13, 0)  # 72h after case 4 was resolved: nobody rated it
    await lifecycle.close_unrated(ctx, number=n[4])
    return n


async def report_fresh(ctx: ServiceContext, clock: Clock) -> int:
    """Case 10: yunwan, reported at ``clock``'s now, so no deadline of it has passed yet."""
    new = NewReport("yunwan", "parcels", "Parcels at the gate", location="Gate 2")
    case = await report(ctx, resident_id=RES_W, channel=TG, new=new)
    assert case.number is not None
    return case.number


@dataclass(frozen=True)
class Scenario:
    """The scenario as built for command-line tests: its first day and case numbers."""

    day1: date
    numbers: dict[int, int]


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Scenario]:
    """A database with the example loaded, ``build_scenario`` twenty days ago, and case 10
    reported just now; built once, copied for each test.

    Twenty days back, every deadline of cases 1-11 has passed whatever the real time is now.
    """
    path = tmp_path_factory.mktemp("scenario") / "wolaiban.db"
    day1 = datetime.now(SHANGHAI).date() - timedelta(days=20)

    async def build() -> dict[int, int]:
        db = open_database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(db)
            past = Clock(local(day1, 9))
            await load_directory(
                ServiceContext(channels=BOOK, db=db, clock=past), read_directory(EXAMPLE)
            )
            numbers = await build_scenario(
                ServiceContext(channels=BOOK, db=db, clock=past), past, day1
            )
            now = Clock(datetime.now(UTC))
            numbers[10] = await report_fresh(ServiceContext(channels=BOOK, db=db, clock=now), now)
            return numbers
        finally:
            await db.dispose()

    return path, Scenario(day1, asyncio.run(build()))


@pytest.fixture
def scenario(cli: Cli, scenario_file: tuple[Path, Scenario]) -> Scenario:
    """The scenario's database as the command line's own."""
    shutil.copy(scenario_file[0], cli.path)
    return scenario_file[1]
