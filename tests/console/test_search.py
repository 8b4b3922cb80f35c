"""The console's search box through the database's index: 快递 (two characters), one character,
a longer phrase and a location find the cases whose texts hold them, overdue first then the
newest as before; a description rewritten in the database by any writer is found by its new words
only (deletes and the other writes: tests/db/test_search.py)."""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlmodel import col

from bot.services.cases.report import NewReport, report
from core.cases import Channel
from db.models import Case

from .conftest import STAFF, Browser


async def _report(browser: Browser, text: str, location: str = "172号楼") -> int:
    case = await report(
        browser.ctx,
        resident_id="r-jzsj-172",
        channel=Channel.SMS,
        new=NewReport("jzsj-south", "parcels", text, location=location),
    )
    assert case.number is not None
    return case.number


async def _found(browser: Browser, query: str) -> list[int]:
    page = (await browser.client.get("/console/cases", params={"q": query, "status": "all"})).text
    return [int(n) for n in re.findall(r'data-number="(\d+)"', page)]


async def test_search_finds_chinese_of_any_length_and_follows_every_writer(
    browser: Browser,
) -> None:
    pile = await _report(browser, "楼下的快递堆在马路上")
    locker = await _report(browser, "快递柜坏了", location="3号楼东门")
    lamp = await _report(browser, "路灯不亮")
    await browser.sign_in(STAFF)
    assert await _found(browser, "快递") == [locker, pile]  # the newest first
    assert await _found(browser, "灯") == [lamp]
    assert await _found(browser, "快递堆在马路") == [pile]
    assert await _found(browser, "东门") == [locker]
    assert await _found(browser, "快递_") == []  # an underscore is a character, not a wildcard
    async with browser.ctx.db.transaction() as session:
        await (await session.connection()).execute(
            update(Case).where(col(Case.number) == pile).values(description="（已删除）")
        )
    assert await _found(browser, "快递") == [locker]
    assert await _found(browser, "已删除") == [pile]
    assert await _found(browser, "灯") == [lamp]
