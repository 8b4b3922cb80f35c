"""``wolaiban demo``: the three stories reach their ends, the rates are printed, in zh and en."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.cli.main import main
from db.engine import open_database
from db.models import Case, CaseEvent

RATE = r"(\d{1,3}\.\d%|-)"
ROW = re.compile(rf"^(\S+)\s+(\d+)\s+{RATE}\s+{RATE}\s+{RATE}$", re.M)


def _rates(out: str) -> dict[str, tuple[str, ...]]:
    return {m.group(1): m.groups()[1:] for m in ROW.finditer(out)}


async def _trail(database: Path) -> dict[int, tuple[str, str | None, list[str]]]:
    db = open_database(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.reading() as session:
            cases = (await session.exec(select(Case))).all()
            trail = {}
            for case in cases:
                assert case.number is not None
                query = select(CaseEvent.kind).where(CaseEvent.case_number == case.number)
                kinds = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
                trail[case.number] = (case.status, case.rating, list(kinds))
            return trail
    finally:
        await db.dispose()


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
    assert _rates(out) == {
        "bgy-north": ("1", "100.0%", "100.0%", "100.0%"),
        "jzsj-south": ("1", "100.0%", "100.0%", "100.0%"),
        # nobody acknowledged the bench in time; fixed after reassignment; basically satisfied
        "yuanxiang": ("1", "0.0%", "100.0%", "90.0%"),
    }
    trail = asyncio.run(_trail(tmp_path / "kept" / "wolaiban.db"))
    assert trail[1] == (
        "closed",
        "satisfied",
        ["reported", "routed", "acknowledged", "resolved", "rated"],
    )
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
    assert set(_rates(out)) == {"bgy-north", "jzsj-south", "yuanxiang"}
