"""The staff console over 100,000 cases: how long the cases page takes, next to
``wolaiban cases list --json --limit 50`` in the same run.

The database is made as ``bench/records.py`` makes it (the real migrations, the example directory,
100,000 cases bulk-inserted with their events: 90% closed, 10% open). The console is served by
uvicorn on loopback exactly as ``wolaiban run`` mounts it; 刘博 (staff of one of six communities)
signs in with a one-time link, then each page is asked for ``--repeat`` times over real HTTP and
the median and best are kept:

- ``/console/cases`` (the home page: the open cases of his community, overdue first, counts by
  status on top), its htmx refresh fragment, the list filtered (every status, overdue, a text
  search), and a deep page (page 40 of every status);
- a case page and ``/console/cases.csv`` of the open cases;
- ``wolaiban cases list --json --limit 50`` as a subprocess (wall time, start-up included) and the
  same use case in process (``views.list_cases(limit=50)``).

    python bench/console.py [--quick] [--cases 100000] [--repeat 15]
                            [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Exits 1 when the cases page's median misses 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/console.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlmodel import col, select

from bench.bulk import Mix, fill, prepare
from bench.common import Figure, bench_database, cli, machine_note, print_table
from bot.config import Settings
from bot.console.routes import console_routes
from bot.services.staff import signin, views
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from core.cases import OPEN_STATUSES
from db.engine import open_database
from db.models import Case
from sandbox.child import clean_env
from sandbox.serve import serving

TARGET_MS = 300.0
SECRET = "bench-console-secret-0123456789abcdef"
STAFF = "liubo"
HTMX = {"HX-Request": "true"}
LIST = ["cases", "list", "--json", "--limit", "50"]
PROOF = re.compile(r'name="csrf" value="([^"]+)"')  # the sign-in form's token


async def sign_in(client: httpx.AsyncClient, ctx: ServiceContext) -> None:
    """Sign in as a browser does: open the one-time link (the page, its form's token, the sign-in
    cookie), then press the button (POST with that token)."""
    token, _ = await signin.issue_token(ctx, person_id=STAFF)
    shown = await client.get(f"/console/login/{token}")
    found = PROOF.search(shown.text)
    if shown.status_code != 200 or found is None:
        raise SystemExit(f"sign-in page: {shown.status_code} {shown.text[:200]}")
    pressed = await client.post(f"/console/login/{token}", data={"csrf": found.group(1)})
    if pressed.status_code != 303:
        raise SystemExit(f"sign in: {pressed.status_code} {pressed.text[:200]}")


async def timed(client: httpx.AsyncClient, path: str, repeat: int, **kw: object) -> list[float]:
    """Milliseconds of ``repeat`` GETs of ``path`` (each must answer 200)."""
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = await client.get(path, **kw)  # type: ignore[arg-type]
        found.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:200]}")
    return found


async def main(args: argparse.Namespace) -> int:
    """Fill, serve, sign in, time; print the table; 1 when the target is missed."""
    print(machine_note())
    async with bench_database(args.postgres, "console.db") as url:
        return await bench(args, url)


async def bench(args: argparse.Namespace, url: str) -> int:
    """The run on the database at ``url``."""
    db = open_database(url)
    now = datetime.now(UTC)
    ctx = await prepare(db, lambda: now)
    started = time.perf_counter()
    counts = await fill(db, Mix(cases=args.cases, closed_share=0.9), now)
    print(f"{args.cases:,} cases {dict(counts)} inserted in {time.perf_counter() - started:.1f} s")
    settings = Settings(_env_file=None, database_url=url, console_secret=SECRET)
    app = create_web_app(ctx, console_routes(settings, ctx, lambda: None))
    async with db.reading() as session:
        query = select(Case.number).where(
            Case.community_id == "jzsj-south",
            col(Case.status).in_([s.value for s in OPEN_STATUSES]),
        )
        one = (await session.exec(query.limit(1))).first()
    figures: list[Figure] = []
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
            await sign_in(client, ctx)
            pages = [
                ("/console/cases (home: open, overdue first)", "/console/cases", {}),
                (
                    "  its htmx refresh fragment",
                    "/console/cases",
                    {"headers": {"HX-Request": "true"}},
                ),
                ("/console/cases?status=all", "/console/cases?status=all", {}),
                ("/console/cases?overdue=1", "/console/cases?overdue=1", {}),
                ("/console/cases?q=快递 (text search)", "/console/cases?q=快递&status=all", {}),
                ("/console/cases?status=all&page=40", "/console/cases?status=all&page=40", {}),
                (f"/console/cases/{one} (a case)", f"/console/cases/{one}", {}),
                ("/console/cases.csv (open)", "/console/cases.csv", {}),
            ]
            for label, path, kw in pages:
                times = await timed(client, path, args.repeat, **kw)
                median = statistics.median(times)
                home = path == "/console/cases" and not kw
                figures.append(
                    Figure(
                        f"{label} median (best {min(times):.0f})",
                        median,
                        "ms",
                        target=f"≤ {TARGET_MS:.0f} ms" if home else "",
                        passed=median <= TARGET_MS if home else None,
                        digits=0,
                    )
                )
        in_process = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            await views.list_cases(ctx, statuses=[s.value for s in OPEN_STATUSES], limit=50)
            in_process.append((time.perf_counter() - started) * 1000)
        figures.append(
            Figure("views.list_cases(open, limit=50) in process", min(in_process), "ms", digits=0)
        )
    finally:
        await db.dispose()
    with tempfile.TemporaryDirectory() as work:
        env = clean_env(DATABASE_URL=url, LOG_LEVEL="WARNING")
        runs = [
            cli(["cases", "list", "--json", "--limit", "50"], env, Path(work)) for _ in range(3)
        ]
    best = min(seconds for seconds, _ in runs) * 1000
    figures.append(
        Figure("wolaiban cases list --json --limit 50 (best of 3)", best, "ms", digits=0)
    )
    misses = print_table(f"The staff console over {args.cases:,} cases", figures)
    return 1 if misses else 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, help="cases in all (default 100,000)")
    parser.add_argument("--repeat", type=int, default=15, help="requests of each page")
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 5,000 cases")
    args = parser.parse_args(argv)
    args.cases = args.cases or (5_000 if args.quick else 100_000)
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
