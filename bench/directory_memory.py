"""``wolaiban run``'s memory and start with a city's directory file (issue 26), beside the example
directory's in the same run: each on a fresh database, started twice — the first start loads the
file, the second finds it unchanged in the database.

    python bench/directory_memory.py [--communities 7000] [--people 100000] [--postgres URL]
                                     [--before DIR] [--idle 4]

Figures per start: seconds until ``/healthz`` answers (the directory is loaded and held by then),
the server's RSS once ready and idle ``--idle`` seconds, its own peak (VmHWM), and the peak of the
server with any process it started (a worker that loaded the file), sampled every 0.2 s. The city
file is ``bench.city_world``'s (written once into /tmp/wolaiban-bench-directory). ``--before DIR``
measures the same on another tree of the code too (e.g. ``git archive HEAD | tar -x -C DIR``), in
the same run. Target (issue 26): ``run`` idle ≤ 200 MB with the city directory, on both starts;
exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.city_world import write_directory
from bench.common import Figure, bench_database, bench_env, cli, machine_note, print_table, rss_mb
from sandbox.child import Process, wait_ready
from sandbox.harness import EXAMPLE
from sandbox.serve import free_port

RUN_RSS_MB = 200.0
FOLDER = Path("/tmp/wolaiban-bench-directory")
STARTS = ("first start (loads the file)", "second start (file unchanged)")


@dataclass
class Start:
    """One start of ``run``: seconds to ready, and MB."""

    ready: float
    idle: float
    own_peak: float
    tree_peak: float


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tree_mb(root: int) -> float:
    """RSS of ``root`` and every process below it (a worker, and the worker's helpers), MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):  # ended while we looked
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            total += _status_mb(pid, "VmRSS")
        except OSError:
            continue
    return total


async def _sample(pid: int, peak: list[float]) -> None:
    while True:
        try:
            peak[0] = max(peak[0], _tree_mb(pid))
        except OSError:
            return
        await asyncio.sleep(0.2)


async def start(env: dict[str, str], workdir: Path, name: str, idle: float) -> Start:
    """One ``run`` on ``env``: ready, then idle a while; stopped."""
    process = Process(env, workdir / f"{name}.log", cwd=workdir)
    started = time.perf_counter()
    process.start()
    peak = [0.0]
    sampler = asyncio.create_task(_sample(process.pid, peak))
    try:
        await wait_ready(process, seconds=1800)
        ready = time.perf_counter() - started
        await asyncio.sleep(idle)
        found = Start(ready, rss_mb(process.pid), _status_mb(process.pid, "VmHWM"), peak[0])
    finally:
        sampler.cancel()
        process.stop()
    print(
        f"    {name}: ready in {found.ready:.1f} s, idle {found.idle:.0f} MB, own peak "
        f"{found.own_peak:.0f} MB, with its workers {found.tree_peak:.0f} MB",
        flush=True,
    )
    return found


async def measure(
    directory: Path, name: str, postgres: str | None, code: Path | None, idle: float
) -> list[Start]:
    """Both starts of ``run`` with ``directory`` on a fresh, migrated database."""
    async with bench_database(postgres, f"{name}.db") as url:
        env = bench_env(url, port=free_port(), directory=directory)
        if code is not None:
            env["PYTHONPATH"] = str(code)  # the other tree's code, its own migrations too
        cli(["db", "upgrade"], env, FOLDER)
        return [await start(env, FOLDER, f"{name}-{n}", idle) for n in (1, 2)]


def figures(large: list[Start], small: list[Start]) -> list[Figure]:
    """The table's lines: each start's figures, the city's beside the example's."""
    found: list[Figure] = []
    for label, big, base in zip(STARTS, large, small, strict=True):
        found += [
            Figure(f"{label}: ready", big.ready, "s", base.ready),
            Figure(
                f"{label}: RSS idle",
                big.idle,
                "MB",
                base.idle,
                target=f"≤ {RUN_RSS_MB:.0f} MB",
                passed=big.idle <= RUN_RSS_MB,
            ),
            Figure(f"{label}: peak RSS, server", big.own_peak, "MB", base.own_peak),
            Figure(f"{label}: peak RSS, with workers", big.tree_peak, "MB", base.tree_peak),
        ]
    return found


def city_file(communities: int, people: int) -> Path:
    """The city's directory file of this size, written once (it takes a minute) and kept."""
    sized = FOLDER / f"{communities}x{people}"
    sized.mkdir(parents=True, exist_ok=True)
    return write_directory(sized, communities, people)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=7000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--before", type=Path, metavar="DIR", help="another tree of the code")
    parser.add_argument("--idle", type=float, default=4.0, help="seconds idle before the RSS")
    args = parser.parse_args()
    city = city_file(args.communities, args.people)
    print(machine_note(), flush=True)
    trees: dict[str, Path | None] = {"now": None}
    if args.before is not None:
        trees["before"] = args.before.resolve()
    # Each directory on every tree before the next directory: a tree's figures are taken minutes,
    # not a quarter of an hour, from the other's, under the same load.
    found: dict[tuple[str, str], list[Start]] = {}
    for kind, directory in (("example", EXAMPLE), ("city", city)):
        for tag, code in trees.items():
            name = f"{tag}-{kind}"
            found[tag, kind] = await measure(directory, name, args.postgres, code, args.idle)
    misses = 0
    for tag, code in trees.items():
        title = (
            f"run with a city's directory ({args.communities:,} communities, {args.people:,} "
            f"people; value) beside the example's (baseline), "
            f"{'PostgreSQL' if args.postgres else 'SQLite'}, {tag} ({code or 'this tree'})"
        )
        missed = print_table(title, figures(found[tag, "city"], found[tag, "example"]))
        misses += len(missed) if code is None else 0  # the other tree's misses are its own
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
