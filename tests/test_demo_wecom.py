"""``wolaiban demo --channels wecom``: the three stories with staff on WeCom and residents on
WeChat customer service reach their ends — cards pressed, menus clicked, one update by SMS past
WeChat's 48-hour window — and the rates are printed."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.cli.main import main
from db.engine import open_database
from db.models import Case, CaseEvent, OutboxMessage

RATE = r"(\d{1,3}\.\d%|-)"
COMMUNITIES = {"bgy-north", "jzsj-north", "jzsj-south", "lingfeng", "yuanxiang", "yunwan"}
ROW = re.compile(rf"^(\S+)\s+(\d+)\s+{RATE}\s+{RATE}\s+{RATE}$", re.M)
SAID = "\n          "  # the transcript's indent: what follows is what was said or shown


async def _trail(database: Path) -> tuple[dict[int, tuple[str, str | None, list[str]]], list[str]]:
    """Each story's case: status, rating, events (kind/channel); and where #2's messages to the
    resident went (channel/status)."""
    db = open_database(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.reading() as session:
            trail = {}
            for number in (1, 2, 3):
                case = await session.get(Case, number)
                assert case is not None
                query = select(CaseEvent).where(CaseEvent.case_number == number)
                events = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
                kinds = [f"{e.kind}/{e.channel}" for e in events]
                trail[number] = (case.status, case.rating, kinds)
            query = select(OutboxMessage).where(
                OutboxMessage.case_number == 2, OutboxMessage.person_id == "r-bgy-72"
            )
            rows = (await session.exec(query.order_by(col(OutboxMessage.id)))).all()
            went = [f"{r.channel}/{r.status}" for r in rows]
    finally:
        await db.dispose()
    return trail, went


def test_the_demo_on_wecom_and_wechat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert main(["demo", "--channels", "wecom", "--keep", str(tmp_path / "kept")]) == 0
    out = capsys.readouterr().out
    # A menu choice in the guided report, and a rating by menu, on WeChat customer service
    assert "我来办 → 李大爷 (WeChat)" + SAID + "请选择问题类别：" in out
    assert "李大爷 → 我来办 (WeChat)" + SAID + "[快递堆放占道]\n" in out
    assert "李大爷 → 我来办 (WeChat)" + SAID + "[😊 满意]\n" in out
    # The card on WeCom with its buttons, a press, and the card brought up to date
    assert "我来办 → 王经理 (WeCom)" + SAID + "📋 新诉求 #1" in out
    assert "[✅ 接单]  [🛠 已办好]  [↩️ 非我负责]" in out
    assert "王经理 → 我来办 (WeCom)" + SAID + "[✅ 接单]\n" in out
    assert "✎（消息已更新） —— 当前状态：处理中" in out
    # 何女士 silent past WeChat's window: #2 done again reaches her by SMS, she rates by SMS
    assert "—— 49 小时过去了：何女士一直没有再发消息 ——" in out
    assert "我来办 → 何女士 (SMS)" + SAID + "负责人表示诉求 #2 已办好。请您评价：" in out
    assert "何女士 → 我来办 (SMS)" + SAID + "1\n" in out
    assert "📊 每日简报" in out
    rates = {m.group(1): m.groups()[1:] for m in ROW.finditer(out)}
    assert set(rates) == COMMUNITIES

    trail, went = asyncio.run(_trail(tmp_path / "kept" / "wolaiban.db"))
    assert trail[1][:2] == ("closed", "satisfied")
    assert [k for k in trail[1][2] if k.startswith(("acknowledged", "resolved", "rated"))] == [
        "acknowledged/wecom",
        "resolved/wecom",
        "rated/wechat",
    ]
    assert trail[2][:2] == ("closed", "satisfied")
    assert trail[2][2].count("reopened/wechat") == 1
    assert trail[2][2][-1] in ("closed/sms", "rated/sms")
    # Not sent on WeChat past the window (given up there), then sent by SMS
    assert "wechat/dead" in went
    assert went.index("sms/sent") > went.index("wechat/dead")
    assert trail[3][:2] == ("closed", "basically_satisfied")
    assert "reassigned/wecom" in trail[3][2]
    assert trail[3][2].count("escalated/system") == 2
