"""Exports and deep pages over a million cases (issue 26): the console's CSV and ``wolaiban
cases list --json`` streamed by key, beside the whole-list way they were written before, and the
console list's fortieth page by key.

The database is filled as ``bench/records.py`` fills it (``--cases``, 90% closed). Each export
runs in a child process of its own, so its peak RSS (``ru_maxrss``) is its own:

- ``csv streamed``: the console's CSV (``downloads.csv_stream``: ``listing.export`` in the CSV's
  shape, ``csv_rows.CsvLines``), every status, for a reader who sees every community;
- ``csv whole (before)``: the same cases' contract JSON read at once and written into one string,
  a cell per field, as the console did before (without its 50,000-row cap) — its bytes must be
  the streamed CSV's, or the run fails;
- ``cases list --json`` (every status) as a subprocess, its output thrown away, and the same
  list built and escaped whole as before (its first 100,000 cases: the old way holds a string per
  character of the text, far past this machine's memory at a million).

Then the console (uvicorn on loopback, as ``run`` mounts it) is walked by its "next" links to
page 40 of ``status=all``; that page and the first are timed ``--repeat`` times.

    python bench/export.py [--quick] [--cases 1000000] [--repeat 15] [--sqlite PATH [--reuse]]
                           [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/export.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from bench.bulk import Mix, fill, prepare
from bench.common import PYTHON, Figure, fresh_postgres, machine_note, print_table
from bench.console import sign_in
from bot.channels import BOOK
from bot.config import Settings
from bot.console.downloads import CSV_FIELDS, csv_stream
from bot.console.routes import console_routes
from bot.services.cases.routing import zone
from bot.services.staff import listing, views
from bot.services.staff.queue import display_names
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from core.cases import Status
from core.clean import printable
from db.engine import open_database
from db.models import Case, Community
from sandbox.child import clean_env
from sandbox.harness import sqlite_url
from sandbox.serve import serving

SECRET = "bench-export-secret-0123456789abcdef"
EVERY = [s.value for s in Status]
WHOLE_JSON = 100_000
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what the console's CSV quotes at a cell's start
NEXT = re.compile(r'<a href="(/console/cases\?[^"]*)">[^<]*→</a>')


def _add(figures: list[Figure], figure: Figure) -> None:
    """``figure`` added, and printed at once (a later failure loses nothing measured)."""
    print(f"  {figure.name}: {figure.value or 0:,.1f} {figure.unit}", flush=True)
    figures.append(figure)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cells(row: dict[str, object]) -> list[object]:
    """A case's CSV line as the console wrote it from the contract's JSON before issue 26."""
    return [
        "" if v is None else "'" + v if isinstance(v, str) and v[:1] in FORMULA else v
        for v in map(row.get, CSV_FIELDS)
    ]


async def child(mode: str, url: str) -> dict[str, float | str]:
    """One export in this process: rows, seconds (and CPU seconds), peak RSS before and after,
    and for a CSV the SHA-256 of its bytes."""
    db = open_database(url)
    now = datetime.now(UTC)
    ctx = ServiceContext(channels=BOOK, db=db, clock=lambda: now, default_language="zh")
    async with db.reading() as session:
        communities = tuple((await session.exec(select(Community.id))).all())
    viewer = listing.Viewer("bench", "bench", "staff", communities)
    filters = listing.Filters(status="all")
    before = _peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    rows, digest = 0, hashlib.sha256()
    if mode == "csv-streamed":
        async for chunk in csv_stream(ctx, viewer, filters, language="zh"):
            rows += chunk.count(b"\r\n")  # descriptions have no line breaks in the bench
            digest.update(chunk)
        rows -= 1  # the header
    elif mode == "csv-whole":  # the console's export before issue 26, without its cap
        found = await _whole(ctx, managers=True)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(CSV_FIELDS)
        writer.writerows(map(_cells, found))
        written = out.getvalue().encode("utf-8")
        rows = len(written.split(b"\r\n")) - 2
        digest.update(written)
    elif mode == "json-whole":  # ``cases list --json`` before issue 26: built, then printed
        # At most WHOLE_JSON cases: escaping the whole text a character at a time holds a string
        # per character, tens of GB at a million cases.
        found = await _whole(ctx, WHOLE_JSON)
        text = printable(json.dumps(found, ensure_ascii=False, indent=2))
        sys.stdout.flush()  # what main printed goes to a file as large as the list
        rows = len(found) if text else 0
        rows = len(found)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await db.dispose()
    return {
        "rows": rows,
        "seconds": seconds,
        "cpu": cpu,
        "before_mb": before,
        "peak_mb": _peak_mb(),
        "sha256": digest.hexdigest(),
    }


async def _whole(
    ctx: ServiceContext, limit: int | None = None, *, managers: bool = False
) -> list[dict[str, object]]:
    """Every case's JSON (the first ``limit``) read in one query, as ``views.list_cases`` read
    them before; with ``managers``, the managers named as the console named them."""
    names = await views._names(ctx, "zh")
    query = select_columns(*views.JSON_COLUMNS).order_by(col(Case.number)).limit(limit)
    async with ctx.db.reading() as session:
        rows = (await (await session.connection()).execute(query)).all()
        tz = await zone(session)
        if managers:
            names = await display_names(session, "zh", rows)
    return [views.case_json(r._mapping, tz, names=names) for r in rows]


def run_child(mode: str, url: str) -> dict[str, Any]:
    """``child`` in a fresh interpreter; its report."""
    done = subprocess.run(
        [PYTHON, __file__, "--child", mode, "--url", url],
        capture_output=True,
        check=True,
        env=clean_env(),
    )
    found: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return found


def run_cli(url: str) -> tuple[float, float]:
    """``wolaiban cases list --json`` of every status, output thrown away: seconds, peak MB."""
    argv = [PYTHON, "-m", "bot.cli", "cases", "list", "--json"]
    argv += [a for s in EVERY for a in ("--status", s)]
    env = clean_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        process = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"cases list exited {status}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


async def pages(url: str, repeat: int) -> list[Figure]:
    """The first and the fortieth page of ``status=all``, reached by the pages' own links."""
    db = open_database(url)
    now = datetime.now(UTC)
    ctx = ServiceContext(channels=BOOK, db=db, clock=lambda: now, default_language="zh")
    settings = Settings(_env_file=None, database_url=url, console_secret=SECRET)
    app = create_web_app(ctx, console_routes(settings, ctx, lambda: None))
    figures = []
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
            await sign_in(client, ctx)
            link = "/console/cases?status=all"
            links = {1: link}
            for number in range(2, 41):
                found = NEXT.search((await client.get(link)).text)
                if found is None:
                    break
                link = links[number] = found.group(1).replace("&amp;", "&")
            for number, path in sorted(links.items())[:: max(1, len(links) - 1)]:
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text[:200]
                label = f"console status=all page {number} (by key) median (best {min(times):.0f})"
                _add(figures, Figure(label, statistics.median(times), "ms", digits=0))
    finally:
        await db.dispose()
    return figures


async def bench(args: argparse.Namespace, url: str) -> int:
    """Fill, then each figure."""
    if not args.reuse:
        db = open_database(url)
        now = datetime.now(UTC)
        await prepare(db, lambda: now)
        started = time.perf_counter()
        counts = await fill(db, Mix(cases=args.cases, closed_share=0.9), now)
        await db.dispose()
        took = time.perf_counter() - started
        print(f"{args.cases:,} cases {dict(counts)} inserted in {took:.1f} s", flush=True)
    figures: list[Figure] = []
    digests = set()
    for mode, label in (("csv-streamed", "CSV streamed"), ("csv-whole", "CSV whole (before)")):
        got = run_child(mode, url)
        rate = got["rows"] / got["seconds"]
        streamed = mode == "csv-streamed"
        digests.add(got["sha256"])
        _add(
            figures,
            Figure(
                f"{label}: {got['rows']:,.0f} rows in {got['seconds']:.1f} s",
                rate,
                "rows/s",
                target="≥ 50,000" if streamed else "",
                passed=rate >= 50_000 if streamed else None,
                digits=0,
            ),
        )
        _add(
            figures,
            Figure(
                f"  its peak RSS (before the export: {got['before_mb']:.0f} MB)",
                got["peak_mb"],
                "MB",
                target="≤ 150" if streamed else "",
                passed=got["peak_mb"] <= 150 if streamed else None,
                digits=0,
            ),
        )
        # The machine's other work aside: what a row costs this process's CPU (both threads).
        cpu = f"  its CPU per row ({got['cpu']:.1f} s in all)"
        _add(figures, Figure(cpu, got["cpu"] / max(1, got["rows"]) * 1e6, "µs"))
    if len(digests) != 1:
        raise SystemExit("the streamed CSV's bytes are not the CSV written whole")
    print("  the streamed CSV's bytes are the CSV written whole", flush=True)
    seconds, peak = run_cli(url)
    _add(
        figures,
        Figure(
            f"cases list --json, every status: {args.cases / seconds:,.0f} rows/s", seconds, "s"
        ),
    )
    _add(figures, Figure("  its peak RSS", peak, "MB", digits=0))
    got = run_child("json-whole", url)
    _add(
        figures,
        Figure(
            f"cases list --json whole (before), first {got['rows']:,.0f}: "
            f"{got['rows'] / got['seconds']:,.0f} rows/s",
            got["seconds"],
            "s",
        ),
    )
    _add(figures, Figure("  its peak RSS", got["peak_mb"], "MB", digits=0))
    figures += await pages(url, args.repeat)
    misses = print_table(f"Exports and deep pages over {args.cases:,} cases", figures)
    return 1 if misses else 0


async def main(args: argparse.Namespace) -> int:
    """The child's one export, or the whole run."""
    if args.child:
        print(json.dumps(await child(args.child, args.url)))
        return 0
    print(machine_note())
    if args.postgres:
        async with fresh_postgres(args.postgres) as url:
            return await bench(args, url)
    if args.sqlite:  # kept: a second run (--reuse) times it again without filling it
        return await bench(args, sqlite_url(Path(args.sqlite)))
    with tempfile.TemporaryDirectory() as folder:
        return await bench(args, sqlite_url(Path(folder) / "export.db"))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="cases in all (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=15, help="requests of each page")
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5,000 cases")
    parser.add_argument("--sqlite", metavar="PATH", help="fill (and keep) this SQLite file")
    parser.add_argument("--reuse", action="store_true", help="time the kept file, do not fill")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cases = args.cases or (5_000 if args.quick else 1_000_000)
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
