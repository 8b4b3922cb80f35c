"""The district office's type-ahead in Debian's Chromium (issue 26): over a district of 308
communities the community filter is a text field whose suggestions arrive as one types (htmx
into its datalist); the one chosen, or a whole name typed and sent, filters the list — and the
page passes axe and fits a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.channels import BOOK
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext
from sandbox.harness import migrated_sqlite
from tests.console.in_browser import PHONE, console_served, needs_chromium, sign_in
from tests.console.test_accessibility import _check as accessible
from tests.services.district import DISTRICT, load_district, reported

pytestmark = needs_chromium

DESK = {"width": 1280, "height": 800}


@dataclass(frozen=True, slots=True)
class District:
    """The console serving the district, and a case in each of two of its communities."""

    url: str
    ctx: ServiceContext
    c012: int
    c200: int

    async def link(self) -> str:
        token, _ = await signin.issue_token(self.ctx, person_id=DISTRICT)
        return f"{self.url}/console/login/{token}"


@pytest.fixture
async def district(tmp_path: Path) -> AsyncIterator[District]:
    """The district's directory, two cases, and the real console on loopback."""
    db = await migrated_sqlite(tmp_path / "wolaiban.db")
    ctx = ServiceContext(db=db, default_language="zh", channels=BOOK)
    try:
        await load_district(ctx)
        c012 = await reported(ctx, "c012", "快递堆在c012")
        c200 = await reported(ctx, "c200", "快递堆在c200")
        async with console_served(ctx, "district-console-secret-0123456789") as url:
            yield District(url, ctx, c012, c200)
    finally:
        await db.dispose()


async def _rows(page: Any) -> list[int]:
    numbers = await page.locator("#case-list tr[data-number]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.number))"
    )
    return sorted(numbers)


async def test_the_district_office_types_a_community_and_filters_by_it(
    chromium: Any, district: District
) -> None:
    context = await chromium.new_context(viewport=DESK, locale="zh-CN")
    try:
        page = await context.new_page()
        await sign_in(page, await district.link())
        assert await _rows(page) == sorted([district.c012, district.c200])
        assert await page.locator("select[name=community]").count() == 0
        field = page.get_by_label("社区", exact=True)
        assert await field.get_attribute("list") == "community-options"
        await accessible(page, "typed filters", "desk")
        # Typed, the suggestions arrive: at most 20, the whole name first.
        await field.press_sequentially("第12", delay=60)
        chosen = page.locator('#community-options option[value="c012"]')
        await chosen.wait_for(state="attached")
        options = page.locator("#community-options option")
        assert 0 < await options.count() <= 20
        assert await chosen.text_content() == "第12社区"
        # Picked (the datalist puts the option's value in the field) and applied.
        await field.fill(await chosen.get_attribute("value") or "")
        await page.click("#apply-filters")
        await page.wait_for_url("**community=c012**")
        assert await _rows(page) == [district.c012]
        assert await page.locator("#community-said").text_content() == "第12社区"
        # A whole name typed and sent without picking: read as the community it names.
        await field.fill("第200社区")
        await page.click("#apply-filters")
        await page.wait_for_url("**/console/cases?**")
        await page.wait_for_function("document.querySelector('#community-typed').value === 'c200'")
        assert await _rows(page) == [district.c200]
    finally:
        await context.close()


async def test_the_typed_filters_pass_axe_on_a_phone(chromium: Any, district: District) -> None:
    context = await chromium.new_context(viewport=PHONE, locale="zh-CN")
    try:
        page = await context.new_page()
        await sign_in(page, await district.link())
        await accessible(page, "typed filters", "phone")
        await page.goto(f"{district.url}/console/cases?community=nowhere")
        assert await page.get_by_role("alert").first.text_content() == (
            "没有名为“nowhere”的社区，列表未按社区筛选。"
        )
        await accessible(page, "typed filters", "phone")
    finally:
        await context.close()
