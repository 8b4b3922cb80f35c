"""The district office's console (issue 26): a reader who is staff of every one of a city's
communities, its list pages' size and time, beside the same pages of an earlier code tree in the
same run — and one community's staff, whose pages must not change.

The world (SQLite): the city directory of ``bench/city_world.py`` (7,000 communities, three people
each, a resident each, the district office on every community's staff) and ``--cases`` cases
bulk-loaded the same way. Each tree is timed in a child interpreter of its own, serving the
console exactly as ``run`` mounts it (uvicorn on loopback, a real sign-in, real HTTP):

    python bench/district.py [--communities 7000] [--cases 20000] [--repeat 5] [--rounds 2]
                             [--before /tmp/wtF] [--keep DIR]

``--before TREE``: a checkout of the code to compare with (``git worktree add --detach TREE
HEAD``); without it only this tree is timed. The trees are timed by turns, ``--rounds`` times,
each figure the lowest median of its rounds. ``--keep DIR`` keeps the world for another run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# The code timed: this tree, or the one a parent run names for its child (``--before``).
TREE = Path(os.environ.get("WOLAIBAN_BENCH_TREE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(TREE))

import httpx  # noqa: E402

import bench.console as console_bench  # noqa: E402
from bench.city_world import COMMUNITY_STAFF, DISTRICT, build, write_directory  # noqa: E402
from bench.common import PYTHON, Figure, machine_note, print_table  # noqa: E402
from bot.channels import BOOK  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.console.routes import console_routes  # noqa: E402
from bot.services.unit.context import ServiceContext  # noqa: E402
from bot.web import create_web_app  # noqa: E402
from db.engine import open_database  # noqa: E402
from sandbox.harness import sqlite_url  # noqa: E402
from sandbox.serve import serving  # noqa: E402

SECRET = "bench-district-secret-0123456789abcdef"
READERS = {"district office": DISTRICT, "one community's staff": COMMUNITY_STAFF}
PAGES = [
    ("home (open, overdue first)", "/console/cases", {}),
    ("home's refresh (htmx)", "/console/cases", {"HX-Request": "true"}),
    ("status=all", "/console/cases?status=all", {}),
    ("a community, every status", "/console/cases?community=c00042&status=all", {}),
    ("rates", "/console/rates", {}),
    ("type-ahead: communities", "/console/choices/communities?q=第42", {}),
    ("type-ahead: holders", "/console/choices/holders?q=经理42", {}),
]


async def timed(url: str, repeat: int) -> dict[str, list[float]]:
    """In this process: each reader's pages as (median ms, bytes)."""
    db = open_database(url)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    settings = Settings(_env_file=None, database_url=url, console_secret=SECRET)
    app = create_web_app(ctx, console_routes(settings, ctx, lambda: None))
    found: dict[str, list[float]] = {}
    try:
        async with serving(app) as base:
            for who, person in READERS.items():
                async with httpx.AsyncClient(base_url=base, timeout=600) as client:
                    console_bench.STAFF = person  # bench/console.py signs in its STAFF
                    await console_bench.sign_in(client, ctx)
                    for label, path, headers in PAGES:
                        found[f"{who}: {label}"] = await _page(client, path, headers, repeat)
    finally:
        await db.dispose()
    return found


async def _page(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], repeat: int
) -> list[float]:
    """The median ms of ``repeat`` GETs of ``path`` (after one to warm up) and its size; a page
    the tree does not have, or fails (said on stderr), as (nan, 0)."""
    first = await client.get(path, headers=headers)
    if first.status_code != 200:
        if first.status_code != 404:
            print(f"{path}: {first.status_code}", file=sys.stderr)
        return [float("nan"), 0.0]
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        await client.get(path, headers=headers)
        found.append((time.perf_counter() - started) * 1000)
    return [statistics.median(found), float(len(first.content))]


def in_child(tree: Path, url: str, repeat: int) -> dict[str, list[float]]:
    """``timed`` in a child interpreter importing the code of ``tree``."""
    env = {**os.environ, "WOLAIBAN_BENCH_TREE": str(tree), "LOG_LEVEL": "WARNING"}
    argv = [PYTHON, str(Path(__file__).resolve()), "--child", url, "--repeat", str(repeat)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr[-2000:]}")
    for line in done.stderr.splitlines():
        if line.startswith("/console/"):  # a page that failed there
            print(f"  {tree}: {line}", file=sys.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _lower(kept: dict[str, list[float]], new: dict[str, list[float]]) -> None:
    """``kept`` with each figure's time the lower of its own and ``new``'s (nan: not had)."""
    for label, (ms, size) in new.items():
        old = kept.get(label, [float("nan"), size])[0]
        kept[label] = [ms if math.isnan(old) or ms < old else old, size]


async def world(folder: Path, communities: int, cases: int) -> str:
    """The district's world in ``folder`` (built once: a kept folder is reused)."""
    path, done = folder / f"district-{communities}-{cases}.db", folder / f"built-{cases}"
    url = sqlite_url(path)
    if not done.exists():
        path.unlink(missing_ok=True)
        directory = write_directory(folder, communities, 4 * communities)
        started, db = time.perf_counter(), open_database(url)
        try:
            now = datetime.now(UTC)
            await build(db, url, directory, cases, (communities, 4 * communities), now)
        finally:
            await db.dispose()
        print(f"  built in {time.perf_counter() - started:,.0f} s", flush=True)
        done.write_text("built")
    return url


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=7000)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, help="the code tree to compare with")
    parser.add_argument("--keep", type=Path, help="a folder to keep the world in")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a database URL: time it, print JSON
    args = parser.parse_args()
    if args.child:
        print(json.dumps(await timed(args.child, args.repeat)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = await world(folder, args.communities, args.cases)
        after: dict[str, list[float]] = {}
        before: dict[str, list[float]] = {}
        # The trees by turns, each figure the lower of its rounds: the machine's load moves.
        for _ in range(args.rounds):
            if args.before:
                _lower(before, in_child(args.before, url, args.repeat))
            _lower(after, in_child(TREE, url, args.repeat))
    figures = []
    for label, (ms, size) in after.items():
        old_ms, old_size = before.get(label, [None, None])
        figures.append(Figure(f"{label}: time", ms, "ms", baseline=old_ms, digits=0))
        figures.append(Figure(f"{label}: size", size / 1024, "KB", baseline=(old_size or 0) / 1024))
    title = (
        f"The district office's console: {args.communities:,} communities, {args.cases:,} cases, "
        f"SQLite; baseline {args.before or '(none)'}. {machine_note()}"
    )
    print_table(title, figures)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
