"""A city's directory (issue 26): 7,000 communities and 100,000 people — checked, loaded, edited
and held by ``run`` — each figure beside the same figure for the example directory in the same
run, on a fresh SQLite database (``--postgres URL`` for PostgreSQL).

    python bench/city_directory.py [--communities 7000] [--people 100000] [--postgres URL]

Figures: ``wolaiban directory check FILE`` and ``directory load FILE`` as whole commands (a
fresh database), the same load again with one community renamed (what an edit costs), and
``run``'s RSS once ready with the city directory loaded at start. Targets (issue 26): ``run`` idle
≤ 200 MB with the city directory; exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Figure,
    bench_env,
    cli,
    fresh_postgres,
    print_table,
    rss_mb,
    wolaiban_run,
)
from sandbox.harness import EXAMPLE, migrated_sqlite, sqlite_url
from sandbox.serve import free_port

RUN_RSS_MB = 200.0


def city(communities: int, people: int) -> dict[str, object]:
    """A district's directory: the example's categories and defaults; per community a staff
    member, a manager and a supervisor, its own SMS number and buildings; the rest of the
    people residents spread over the communities; a route per community."""
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    ids = [f"c{n:05d}" for n in range(communities)]
    listed: list[dict[str, object]] = []
    for n, cid in enumerate(ids):
        listed += [
            {
                "id": f"staff-{cid}",
                "name": f"社工{n}",
                "role": "staff",
                "community": cid,
                "phone": f"+86138{n:08d}",
            },
            {
                "id": f"sup-{cid}",
                "name": f"主管{n}",
                "role": "supervisor",
                "community": cid,
                "phone": f"+86137{n:08d}",
            },
            {
                "id": f"mgr-{cid}",
                "name": f"经理{n}",
                "role": "manager",
                "community": cid,
                "phone": f"+86136{n:08d}",
                "supervisor": f"sup-{cid}",
            },
        ]
    for n in range(max(people - len(listed), 0)):
        cid = ids[n % communities]
        listed.append(
            {
                "id": f"r{n:06d}",
                "name": f"居民{n}",
                "role": "resident",
                "community": cid,
                "phone": f"+86135{n:08d}",
                "building": str(1 + n % 20),
            }
        )
    return {
        "timezone": example.get("timezone", "Asia/Shanghai"),
        "defaults": {**example.get("defaults", {}), "follow_window": "0s"},
        "people": listed,
        "communities": [
            {
                "id": cid,
                "name": {"zh": f"第{n}社区", "en": f"Community {n}"},
                "sms_number": f"+86106{n:08d}",
                "staff": [f"staff-{cid}"],
                "buildings": [str(b) for b in range(1, 21)],
            }
            for n, cid in enumerate(ids)
        ],
        "categories": example["categories"],
        "routing": [{"community": cid, "category": "*", "manager": f"mgr-{cid}"} for cid in ids],
    }


async def fresh_database(folder: Path, name: str, postgres: str | None) -> str:
    """A migrated, empty database: a SQLite file in ``folder``, or the PostgreSQL one given."""
    if postgres:
        return postgres
    db = await migrated_sqlite(folder / f"{name}.db")
    await db.dispose()
    return sqlite_url(folder / f"{name}.db")


def _one_edit(directory: Path, edited: Path) -> Path:
    """``directory`` with its first community renamed, written to ``edited``."""
    data = yaml.load(directory.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    data["communities"][0]["name"]["zh"] += "（改名）"
    edited.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return edited


async def measure(directory: Path, folder: Path, name: str, postgres: str | None) -> list[float]:
    """check, load, an edit's load, and run's RSS, for ``directory``."""
    url = await fresh_database(folder, name, postgres)
    env = bench_env(url, directory=False)
    check, _ = cli(["directory", "check", str(directory)], env, folder)
    load, _ = cli(["directory", "load", str(directory)], env, folder)
    edit, _ = cli(
        ["directory", "load", str(_one_edit(directory, folder / f"{name}-e.yaml"))], env, folder
    )
    run_env = bench_env(url, port=free_port(), directory=directory)
    async with wolaiban_run(run_env, folder, name=name) as process:
        await asyncio.sleep(2)  # idle: what it holds, not a load
        rss = rss_mb(process.pid)
    return [check, load, edit, rss]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=7000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "city.yaml"
        big.write_text(
            yaml.safe_dump(city(args.communities, args.people), allow_unicode=True),
            encoding="utf-8",
        )
        if args.postgres:
            async with fresh_postgres(args.postgres) as small_url:
                small = await measure(EXAMPLE, folder, "example", small_url)
            async with fresh_postgres(args.postgres) as big_url:
                large = await measure(big, folder, "city", big_url)
        else:
            small = await measure(EXAMPLE, folder, "example", None)
            large = await measure(big, folder, "city", None)
    names = [
        "directory check (whole command)",
        "directory load (fresh database)",
        "directory load of one edit",
        "run idle RSS",
    ]
    units = ["s", "s", "s", "MB"]
    figures = [
        Figure(n, value, unit, baseline=base, digits=2 if unit == "s" else 1)
        for n, value, base, unit in zip(names, large, small, units, strict=True)
    ]
    figures[-1].target, figures[-1].passed = f"≤ {RUN_RSS_MB:.0f} MB", large[-1] <= RUN_RSS_MB
    title = (
        f"A city's directory ({args.communities:,} communities, {args.people:,} people) beside "
        f"the example's, {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    return 1 if print_table(title, figures) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
