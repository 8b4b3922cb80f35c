"""The console's text search through the database's index, beside the ``LIKE`` scan it replaced,
in the same run: ``q=快递`` (two characters: the vocabulary range on SQLite, the pairs index on
PostgreSQL) and a four-character phrase (FTS5 trigram phrase on SQLite), at 100,000 and
1,000,000 cases.

Cases are bulk-inserted with varied Chinese texts (descriptions of four words drawn from sixty,
so 快递 is in about one case in sixteen, as one kind of problem among many — the other benches'
cases all say 快递, which any index must return in full) through the real migrations and the
index's triggers. Each figure is the console's two queries for a search — the counts by status and
the first page of 50 by number, newest first — timed ``--repeat`` times, the median kept; and the
case page's use case (``listing.case_page``) with the index, end to end.

    python bench/search.py [--cases 100000 1000000] [--repeat 9]
                           [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/search.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import ColumnElement, func, insert, select, text
from sqlmodel import col

from bench.common import Figure, bench_database, machine_note, print_table
from bot.channels import BOOK
from bot.services.staff.filters import Filters
from bot.services.staff.listing import Viewer, case_page
from bot.services.unit.context import ServiceContext
from db.engine import Database, open_database
from db.migrate import upgrade
from db.models import Case
from db.search import like_scan, matching

WORDS = [
    "快递",
    "楼下",
    "堆在",
    "马路",
    "噪音",
    "漏水",
    "电梯",
    "停车",
    "垃圾",
    "路灯",
    "坏了",
    "扰民",
    "小区",
    "门口",
    "施工",
    "宠物",
    "绿化",
    "井盖",
    "积水",
    "外卖",
    "物业",
    "保安",
    "消防",
    "通道",
    "占用",
    "装修",
    "楼道",
    "杂物",
    "暖气",
    "不热",
    "水管",
    "爆裂",
    "停电",
    "网络",
    "信号",
    "广场",
    "跳舞",
    "树木",
    "倒伏",
    "围墙",
    "破损",
    "墙皮",
    "脱落",
    "下水",
    "堵塞",
    "异味",
    "老鼠",
    "蟑螂",
    "车位",
    "充电",
    "飞线",
    "楼顶",
    "晾晒",
    "高空",
    "抛物",
    "门禁",
    "失灵",
    "监控",
    "损坏",
    "单元",
]
COMMUNITIES = ("jzsj-south", "jzsj-north", "bgy-north", "bgy-south", "hd-east", "hd-west")
QUERIES = ("快递", "快递堆在")
BATCH = 5000


async def fill(db: Database, cases: int, now: datetime) -> None:
    """``cases`` cases, 90% closed, with four-word descriptions, in executemany batches."""
    rng = random.Random(26)
    for start in range(1, cases + 1, BATCH):
        rows = []
        for number in range(start, min(start + BATCH, cases + 1)):
            created = now - timedelta(days=rng.uniform(0, 365))
            rows.append(
                {
                    "number": number,
                    "status": "closed" if rng.random() < 0.9 else "assigned",
                    "community_id": COMMUNITIES[number % len(COMMUNITIES)],
                    "category_id": "parcels",
                    "channel": "sms",
                    "resident_id": f"bench-resident-{number % 1000}",
                    "location": f"{number % 200 + 1}号楼",
                    "description": "".join(rng.choice(WORDS) for _ in range(4)),
                    "ack_due_at": created,
                    "resolve_due_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        async with db.transaction() as session:
            await (await session.connection()).execute(insert(Case), rows)


async def median_ms(repeat: int, run: Callable[[], Awaitable[object]]) -> float:
    """The median of ``repeat`` runs of ``run``, in milliseconds."""
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        found.append((time.perf_counter() - started) * 1000)
    return statistics.median(found)


async def search(db: Database, condition: ColumnElement[bool]) -> int:
    """The console's two queries for a search: counts by status, then the newest 50."""
    async with db.reading() as session:
        conn = await session.connection()
        counted = select(col(Case.status), func.count()).where(condition)
        total = sum(n for _, n in (await conn.execute(counted.group_by(Case.status))).all())
        page = select(col(Case.number)).where(condition).order_by(col(Case.number).desc())
        await conn.execute(page.limit(50))
        return int(total)


async def bench(url: str, cases: int, repeat: int) -> list[Figure]:
    """Fill a database at ``url`` with ``cases`` cases and time the searches."""
    db = open_database(url)
    now = datetime.now(UTC)
    figures: list[Figure] = []
    try:
        await upgrade(db)
        started = time.perf_counter()
        await fill(db, cases, now)
        took = time.perf_counter() - started
        print(f"{cases:,} cases inserted (the index kept by the database) in {took:.1f} s")
        if not db.is_sqlite:
            async with db.engine.begin() as conn:
                await conn.execute(text("ANALYZE cases"))
        dialect = db.engine.dialect.name
        ctx = ServiceContext(channels=BOOK, db=db, clock=lambda: now, default_language="zh")
        viewer = Viewer("bench", "bench", "staff", COMMUNITIES)
        for query in QUERIES:
            found = await search(db, like_scan(query))
            if await search(db, matching(query, dialect)) != found:
                raise SystemExit(f"{query}: the index and the scan disagree")
            scan = await median_ms(repeat, lambda q=query: search(db, like_scan(q)))
            indexed = await median_ms(repeat, lambda q=query: search(db, matching(q, dialect)))
            name = f"q={query} ({found:,} found) at {cases:,}: index vs LIKE scan"
            figures.append(Figure(name, indexed, "ms", baseline=scan, digits=1))
            page = Filters(text=query, status="all")
            whole = await median_ms(repeat, lambda f=page: case_page(ctx, viewer, f))
            figures.append(Figure(f"  listing.case_page(q={query}) with the index", whole, "ms"))
        if not db.is_sqlite:
            figures.append(Figure("  (plan below)", None))
            await explain(db, "快递")
    finally:
        await db.dispose()
    return figures


async def explain(db: Database, query: str) -> None:
    """Print PostgreSQL's EXPLAIN ANALYZE of the search for ``query``: the index, not a scan."""
    condition = matching(query, "postgresql")
    compiled = (
        select(func.count())
        .where(condition)
        .compile(db.engine.sync_engine, compile_kwargs={"literal_binds": True})
    )
    async with db.reading() as session:
        conn = await session.connection()
        plan = await conn.execute(text(f"EXPLAIN ANALYZE {compiled}"))
        print("\n".join(str(r[0]) for r in plan))


async def main(args: argparse.Namespace) -> int:
    """Each size on SQLite, or on PostgreSQL when asked; print the table."""
    print(machine_note())
    figures: list[Figure] = []
    for cases in args.cases:
        async with bench_database(args.postgres, "search.db") as url:
            figures += await bench(url, cases, args.repeat)
    where = "PostgreSQL" if args.postgres else "SQLite"
    print_table(f"The console's text search on {where}", figures)
    return 0


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each search")
    parser.add_argument("--postgres", metavar="URL", help="bench on PostgreSQL (a fresh database)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
