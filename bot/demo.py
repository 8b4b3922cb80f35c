"""The offline demo: the seed's three stories played through the real use cases.

A temporary SQLite database, the example directory, a clock that jumps instead of waiting. It
prints what each person would receive, then the three rates per community. (The channels and
the scheduler join in as they are built; the stories and their checks stay the same.)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from bot.directory_file import read_directory
from bot.services import lifecycle, stats
from bot.services.context import Actor, ServiceContext
from bot.services.directory import load_directory
from bot.services.report import NewReport, report
from bot.tables import percent, table
from core.cases import Channel, Rating, Status
from core.texts import render
from db.engine import open_database
from db.migrate import upgrade
from db.models import OutboxMessage, Person

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "changyang.yaml"


@dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def jump(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    def next_morning(self) -> None:
        # 09:00 in Beijing the next day, so no story runs into the night's quiet hours
        self.now = (self.now + timedelta(days=1)).replace(hour=1, minute=0)


def _who(channel: Channel, person: str) -> Actor:
    return Actor(person, channel)


async def _stories(ctx: ServiceContext, clock: _Clock, language: str) -> dict[str, Status]:
    """Play the three stories; return each one's final status."""
    tg, sms = Channel.TELEGRAM, Channel.SMS

    def say(zh: str, en: str) -> str:
        return en if language == "en" else zh

    # 1. 嘉州水郡南区: parcels on the road at building 172.
    one = await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=tg,
        new=NewReport(
            "jzsj-south",
            "parcels",
            say(
                "菜鸟驿站的快递和快递车堆在马路上，影响出行。", "Parcels and carts block the road."
            ),
            location=say("172号楼一层底商", "Building 172, ground floor"),
        ),
    )
    assert one.number is not None
    clock.jump(8)
    await lifecycle.acknowledge(ctx, number=one.number, actor=_who(tg, "mgr-jzsj-south"))
    clock.jump(95)
    await lifecycle.resolve(ctx, number=one.number, actor=_who(tg, "mgr-jzsj-south"))
    clock.jump(20)
    one = await lifecycle.rate(
        ctx, number=one.number, actor=_who(tg, "r-jzsj-172"), rating=Rating.SATISFIED
    )
    # 2. 碧桂园北区: construction waste behind building 72, by SMS; reopened once.
    clock.next_morning()
    two = await report(
        ctx,
        resident_id="r-bgy-72",
        channel=sms,
        new=NewReport(
            "bgy-north",
            "construction-waste",
            say(
                "72号楼后侧建筑垃圾堆放点长期无人清理。",
                "Construction waste behind 72 never cleared.",
            ),
            location=say("72号楼后侧", "Behind building 72"),
        ),
    )
    assert two.number is not None
    manager2 = _who(tg, "mgr-bgy-north")
    await lifecycle.acknowledge(ctx, number=two.number, actor=manager2)
    clock.jump(300)
    await lifecycle.resolve(ctx, number=two.number, actor=manager2)
    clock.jump(60)
    reason = say("垃圾只清了一半，还有人乱扔。", "Only half cleared; people still dump there.")
    await lifecycle.rate(
        ctx,
        number=two.number,
        actor=_who(sms, "r-bgy-72"),
        rating=Rating.DISSATISFIED,
        note=reason,
    )
    clock.jump(30)
    await lifecycle.acknowledge(ctx, number=two.number, actor=manager2)
    clock.jump(240)
    await lifecycle.resolve(ctx, number=two.number, actor=manager2, note=reason)
    two = await lifecycle.rate(
        ctx, number=two.number, actor=_who(sms, "r-bgy-72"), rating=Rating.SATISFIED
    )
    # 3. 原香小镇: the broken bench, left unacknowledged until it climbs to staff.
    clock.next_morning()
    three = await report(
        ctx,
        resident_id="r-yuanxiang-5",
        channel=tg,
        new=NewReport(
            "yuanxiang",
            "broken-facility",
            say("5-6号楼之间长廊的凳子坏了，有安全隐患。", "The corridor bench is broken."),
            location=say("1区西区5-6号楼之间长廊", "Corridor between buildings 5 and 6"),
        ),
    )
    assert three.number is not None
    for _ in range(2):
        clock.jump(30)
        await lifecycle.remind(ctx, number=three.number)
    await lifecycle.escalate(ctx, number=three.number)
    clock.jump(60)
    await lifecycle.escalate(ctx, number=three.number)
    staff = _who(tg, "yangzhao")
    await lifecycle.reassign(ctx, number=three.number, actor=staff, manager_id="sup-yuanxiang")
    supervisor = _who(tg, "sup-yuanxiang")
    await lifecycle.acknowledge(ctx, number=three.number, actor=supervisor)
    clock.jump(180)
    await lifecycle.resolve(ctx, number=three.number, actor=supervisor)
    three = await lifecycle.rate(
        ctx,
        number=three.number,
        actor=_who(tg, "r-yuanxiang-5"),
        rating=Rating.BASICALLY_SATISFIED,
    )
    return {c.community_id: Status(c.status) for c in (one, two, three)}


async def _print_conversation(ctx: ServiceContext, language: str) -> None:
    async with ctx.db.reading() as session:
        people = {p.id: p.name for p in (await session.exec(select(Person))).all()}
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    for row in rows:
        name = people.get(row.person_id or "", row.address)
        print(f"── {name} · {row.channel}")
        print("   " + row.text.replace("\n", "\n   "))
        for buttons in row.buttons if row.channel == Channel.TELEGRAM else []:
            print("   " + "  ".join(f"[{b['text']}]" for b in buttons))


async def play(*, language: str, keep: Path | None) -> int:
    """Run the demo; 0 when every story reaches its expected end."""
    folder = Path(tempfile.mkdtemp(prefix="wolaiban-demo-"))
    db = open_database(f"sqlite+aiosqlite:///{folder / 'wolaiban.db'}")
    clock = _Clock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))  # a Monday, 09:00 in Beijing
    ctx = ServiceContext(db=db, clock=clock, default_language=language)
    try:
        await upgrade(db)
        await load_directory(ctx, read_directory(EXAMPLE))
        ends = await _stories(ctx, clock, language)
        await _print_conversation(ctx, language)
        found = await stats.rates(ctx, by="community")
        columns = ("key", "cases", "response", "resolution", "satisfaction")
        rows = [
            [
                k,
                r.cases,
                percent(r.response_rate),
                percent(r.resolution_rate),
                percent(r.satisfaction_rate),
            ]
            for k, r in found.items()
        ]
        print()
        print(table([render(language, f"col.{c}") for c in columns], rows))
        failed = [community for community, status in ends.items() if status is not Status.CLOSED]
        for community in failed:
            print(render(language, "demo.failed", community=community), file=sys.stderr)
        return 1 if failed else 0
    finally:
        await db.dispose()
        _clean_up(folder, keep)


def _clean_up(folder: Path, keep: Path | None) -> None:
    """Copy the database to ``keep`` when asked, then remove the temporary folder."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "wolaiban.db", keep / "wolaiban.db")
    shutil.rmtree(folder, ignore_errors=True)
