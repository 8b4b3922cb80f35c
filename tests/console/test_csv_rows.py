"""The console's CSV read straight from the database's rows (``csv_rows.CsvLines``) is, byte for
byte, the CSV the contract's JSON of the same cases made before — every status, times on both
sides of a change of offset in zones west and east of UTC, times the database leaves to Python,
texts a spreadsheet would run, Chinese text with commas, quotes and line breaks, nothing as an
empty cell — on both databases; and a zone's stretches of one offset are the zone's own."""

from __future__ import annotations

import asyncio
import csv
import io
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bot.console.downloads import CSV_FIELDS, _csv, csv_stream
from bot.directory_file import read_directory
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.staff import listing
from bot.services.staff.csv_rows import CsvLines, cell, offsets
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.models import Person
from sandbox.harness import EXAMPLE
from tests.conftest import Clock
from tests.services.example import PATHS, case_in

from .conftest import STAFF

ALL = listing.Filters(status="all")
OLD_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# A change of offset in each zone, as a UTC instant: New York leaves summer time (-04:00 to
# -05:00); Lord Howe Island enters its half-hour summer time (+10:30 to +11:00).
CHANGES = {
    "America/New_York": datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    "Australia/Lord_Howe": datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
}


def _old_cell(value: object) -> object:
    """A cell as the console handed it to ``csv.writer`` before."""
    if value is None:
        return ""
    return "'" + value if isinstance(value, str) and value[:1] in OLD_FORMULA else value


async def _old_csv(ctx: ServiceContext, viewer: listing.Viewer) -> str:
    """The CSV as the console wrote it before: each case's contract JSON, a cell per field."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    async for batch in listing.export(ctx, viewer, ALL):
        writer.writerows(map(_old_cell, map(row.get, CSV_FIELDS)) for row in batch)
    return out.getvalue()


async def _new_csv(ctx: ServiceContext, viewer: listing.Viewer, batch: int) -> str:
    """The CSV the console streams now, ``batch`` cases a window."""
    shape = CsvLines()
    lines = listing.export(ctx, viewer, ALL, language="zh", batch=batch, shape=shape)
    return b"".join([chunk async for chunk in _csv(lines)]).decode("utf-8")


async def _viewer(ctx: ServiceContext) -> listing.Viewer:
    async with ctx.db.reading() as session:
        person = await session.get(Person, STAFF)
        assert person is not None
        return await listing.viewer_of(session, person)


async def _said(ctx: ServiceContext, text: str, where: str) -> int:
    case = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.SMS,
        new=NewReport("jzsj-south", "parcels", text, location=where),
    )
    assert case.number is not None
    return case.number


@pytest.mark.parametrize("zone", sorted(CHANGES))
async def test_the_csv_is_the_csv_of_the_contract_json(
    loaded: ServiceContext, clock: Clock, zone: str
) -> None:
    await load_directory(loaded, read_directory(EXAMPLE).model_copy(update={"timezone": zone}))
    change = CHANGES[zone]
    clock.now = change - timedelta(microseconds=1)  # the last instant of the old offset
    for status in PATHS:  # every status, each case's times a step apart across the change
        await case_in(loaded, status)
        clock.advance(seconds=0.5)
    await _said(loaded, "=HYPERLINK(1)", "+1号楼")
    await _said(loaded, '快递堆在门口, "很多"\n第二行', "@楼下")
    await _said(loaded, "-1 快递又来了", "-2号楼")
    viewer = await _viewer(loaded)
    old = await _old_csv(loaded, viewer)
    assert await _new_csv(loaded, viewer, batch=3) == old  # windows of three numbers
    streamed = csv_stream(loaded, viewer, ALL, language="zh")
    assert b"".join([chunk async for chunk in streamed]).decode("utf-8") == old

    rows = list(csv.DictReader(io.StringIO(old.removeprefix("\ufeff"))))
    assert {r["status"] for r in rows} == set(PATHS)
    assert len({r["created_at"][-6:] for r in rows}) == 2  # both offsets are in it
    assert {"'=HYPERLINK(1)", "'+1号楼", "'@楼下", "'-1 快递又来了", "'-2号楼"} <= {
        value for r in rows for value in r.values()
    }
    assert any(r["description"] == '快递堆在门口, "很多"\n第二行' for r in rows)
    unassigned = next(r for r in rows if r["status"] == "unassigned")
    assert unassigned["manager"] == unassigned["manager_name"] == unassigned["closed_at"] == ""
    # Eleven years on, every time is older than the database writes in local time: each is
    # converted in Python, to the same cells.
    clock.advance(days=11 * 366)
    assert await _new_csv(loaded, viewer, batch=100) == old


async def test_an_export_left_early_leaves_no_read_running(loaded: ServiceContext) -> None:
    for _ in range(4):
        await _said(loaded, "快递堆在门口", "172号楼")
    viewer = await _viewer(loaded)
    lines = listing.export(loaded, viewer, ALL, batch=1, shape=CsvLines())
    async with aclosing(lines) as batches:
        async for batch in batches:
            assert len(batch) == 1
            break

    def reading() -> list[asyncio.Task[object]]:
        return [
            t
            for t in asyncio.all_tasks()
            if not t.done() and "window" in getattr(t.get_coro(), "__qualname__", "")
        ]

    assert reading() == []  # the window read ahead was let go with the export
    assert loaded.db.engine.pool.checkedout() == 0  # and its connection is back


# Cells the CSV module quotes or leaves as they are; texts a spreadsheet would run.
PLAIN = (None, "", 0, 17, "快递", "a,b", 'say "hi"', '"', ",", "a\nb", "a\rb", "a\r\nb", "a\tb")
FORMULAS = ("=1+1", "+86", "-", "@所有人", "\t制表", "\rcr", '=a,"b"')


@pytest.mark.parametrize("value", PLAIN + FORMULAS)
def test_a_cell_is_what_the_csv_module_wrote(value: object) -> None:
    out = io.StringIO()
    csv.writer(out).writerow([_old_cell(value), "next"])
    assert cell(value) + ",next\r\n" == out.getvalue()


SINCE = datetime(2019, 1, 1, tzinfo=UTC)
ZONES = (
    "UTC",
    "Asia/Shanghai",  # summer time until 1991
    "America/New_York",
    "America/St_Johns",  # -03:30 / -02:30
    "Europe/Dublin",  # its "summer" is the standard time: a negative saving in tzdata
    "Africa/Casablanca",  # an hour off each Ramadan
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # a half-hour saving
    "Pacific/Chatham",  # +12:45 / +13:45
)


@pytest.mark.parametrize("name", ZONES)
def test_a_zones_stretches_are_its_offsets(name: str) -> None:
    tz = ZoneInfo(name)
    start, end = datetime(1985, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    found = offsets(tz, start, end)
    assert found[0][0] == start
    assert all(a[0] < b[0] and a[1] != b[1] for a, b in pairwise(found))
    ends = [at for at, _, _ in found[1:]] + [end]
    for (begins, shift, suffix), until in zip(found, ends, strict=True):
        # Its first and last second, and every hour of it since 2019 (what exports read most).
        span = int((until - begins).total_seconds())
        hourly = range(max(0, int((SINCE - begins).total_seconds())), span, 3600)
        for second in (0, span - 1, *hourly):
            at = begins + timedelta(seconds=second)
            local = at.astimezone(tz)
            assert local.utcoffset() == timedelta(seconds=shift), (name, at)
            assert local.isoformat(timespec="seconds")[19:] == suffix, (name, at)
    if name in ("UTC", "Asia/Shanghai"):  # none; China's six summers of 1986–1991
        assert len(found) == (1 if name == "UTC" else 13)
