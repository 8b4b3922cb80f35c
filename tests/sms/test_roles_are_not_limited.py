"""Limits hold back residents, never people acting in their role: an SMS-only manager's forty
reply codes within an hour all work."""

from __future__ import annotations

from sqlmodel import col, select

from bot.services.unit.context import ServiceContext
from db.models import Case
from tests.conftest import Clock
from tests.sms.conftest import YUANXIANG_NUMBER, Texter

MANAGER = "+8613800000013"  # 冯经理: Yuanxiang's manager, in the directory without Telegram
CASES = 20


async def test_forty_reply_codes_in_an_hour_all_work(
    texts: Texter, loaded: ServiceContext, clock: Clock
) -> None:
    for n in range(1, CASES + 1):  # twenty neighbours, a case each
        [answer] = await texts(f"+86137000001{n:02d}", f"{n}号楼楼道灯坏了", to=YUANXIANG_NUMBER)
        assert f"#{n}" in answer
    for code in ("A", "D"):
        for n in range(1, CASES + 1):
            [answer] = await texts(MANAGER, f"{code}{n}", to=YUANXIANG_NUMBER)
            assert f"#{n}" in answer
    async with loaded.db.reading() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.number)))).all()
    assert [c.status for c in cases] == ["resolved"] * CASES
    assert loaded.limits.messages < 2 * CASES  # the codes were over the residents' limit
