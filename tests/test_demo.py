"""``wolaiban demo``: the three stories reach their ends, the rates are printed, in zh and en."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.cli.main import main
from db.engine import open_database
from db.models import Case, CaseEvent, CaseFollower, Identity

RATE = r"(\d{1,3}\.\d%|-)"
COMMUNITIES = {"bgy-north", "jzsj-north", "jzsj-south", "lingfeng", "yuanxiang", "yunwan"}
ROW = re.compile(rf"^(\S+)\s+(\d+)\s+{RATE}\s+{RATE}\s+{RATE}$", re.M)


def _rates(out: str) -> dict[str, tuple[str, ...]]:
    return {m.group(1): m.groups()[1:] for m in ROW.finditer(out)}


async def _trail(database: Path) -> dict[int, tuple[str, str | None, list[str], int]]:
    db = open_database(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.reading() as session:
            cases = (await session.exec(select(Case))).all()
            trail = {}
            for case in cases:
                assert case.number is not None
                query = select(CaseEvent.kind).where(CaseEvent.case_number == case.number)
                kinds = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
                trail[case.number] = (case.status, case.rating, list(kinds), case.followers)
            return trail
    finally:
        await db.dispose()


async def _neighbour(database: Path) -> tuple[list[int], list[int]]:
    """The cases the demo's neighbour (who texts from +8613900000031) reported, and follows."""
    db = open_database(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.reading() as session:
            phone = Identity.address == "+8613900000031"
            person = (await session.exec(select(Identity.person_id).where(phone))).one()
            own = select(Case.number).where(Case.resident_id == person)
            follows = select(CaseFollower.case_number).where(CaseFollower.person_id == person)
            reported = [n for n in (await session.exec(own)).all() if n is not None]
            followed = list((await session.exec(follows)).all())
    finally:
        await db.dispose()
    return reported, followed


def test_the_demo_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert main(["demo", "--keep", str(tmp_path / "kept")]) == 0
    out = capsys.readouterr().out
    # who said what, readable: the resident's report, the manager's buttons, an SMS
    assert "李大爷 → 我来办 (Telegram)" in out
    assert "[✅ 接单]  [🛠 已办好]  [↩️ 非我负责]" in out
    assert "何女士 → 我来办 (SMS)" in out
    assert "📊 每日简报" in out
    # The town's rates: the stories' cases and a month of history in every community (how many
    # depends on the day the demo runs); the stories' own ends are in the trail below.
    rates = _rates(out)
    assert set(rates) == COMMUNITIES
    assert all(int(cases) > 1 for cases, *_ in rates.values())
    trail = asyncio.run(_trail(tmp_path / "kept" / "wolaiban.db"))
    assert trail[1][:2] == ("closed", "satisfied")
    kinds = [k for k in trail[1][2] if k not in ("followed", "commented")]
    assert kinds == ["reported", "routed", "acknowledged", "resolved", "rated"]
    # A neighbour texted the same parcels, answered "1" and followed #1: no case of her own,
    # and she heard it through to the end.
    assert trail[1][2].count("followed") == 1
    assert [trail[number][3] for number in (1, 2, 3)] == [1, 0, 0]
    assert asyncio.run(_neighbour(tmp_path / "kept" / "wolaiban.db")) == ([], [1])
    assert "邻居张女士 → 我来办 (SMS)\n          1\n" in out
    assert "\n          回复 1 关注 #1 · 172号楼一层底商菜鸟驿站门口 · 已派单 · " in out
    assert "我来办 → 邻居张女士 (SMS)\n          您已关注诉求 #1（快递堆放占道" in out
    assert "我来办 → 邻居张女士 (SMS)\n          您关注的诉求 #1 已办结。" in out
    assert out.count("您关注的诉求 #1 已办结。") == 1
    assert "✎（消息已更新） 涉及居民：2 人 · —— 当前状态：已办结" in out  # the card counts her
    assert trail[2][:2] == ("closed", "satisfied")
    assert trail[2][2].count("reopened") == 1
    assert trail[3][:2] == ("closed", "basically_satisfied")
    assert trail[3][2].count("escalated") == 2
    assert "reassigned" in trail[3][2]
    assert list((tmp_path / "kept").glob("digest-*.png"))  # the charts staff received


def test_the_demo_in_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "Wolaiban → " in out
    assert "[✅ Acknowledge]" in out
    assert "Daily digest" in out
    assert set(_rates(out)) == COMMUNITIES
    assert "Ms Zhang, a neighbour → Wolaiban (SMS)\n          1\n" in out
    assert (
        "Wolaiban → Ms Zhang, a neighbour (SMS)\n          #1, which you follow, is closed." in out
    )
