"""The console in a real browser (Debian's Chromium driven by Playwright) on the real stack with
the Telegram and Twilio emulators: sign in from a ``/web`` link, filter, open a case, reassign it
and see the new holder's card arrive, download the CSV, switch language, and see the list refresh
by itself when a new SMS report comes in; merge a duplicate with one click and undo it on a
phone-sized screen. (The README's pictures are taken by test_accessibility.py.)
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from sandbox.harness import migrated_sqlite, until
from tests.e2e.channels import Both, both_channels

from .in_browser import (
    PHONE,
    STAFF,
    SUPERVISOR,
    downloaded,
    errors_of,
    needs_chromium,
    png,
    presses,
    refused_by_csp,
    reported_by_sms,
    says,
    sign_in,
    sign_in_link,
    signed_in,
)

pytestmark = needs_chromium


async def test_residents_get_no_link(run: Both) -> None:
    resident = 4001
    seen = len(run.telegram.inbox(resident))
    await run.telegram.user_says(resident, "/web")
    await run.until(lambda: len(run.telegram.inbox(resident)) > seen)
    answer = run.telegram.inbox(resident)[seen].text
    assert answer == "工作台只对社区工作人员、物业负责人和物业主管开放。"
    assert "/console/login/" not in answer


async def test_a_residents_telegram_photo_shows_on_the_case_page(
    run: Both,
    chromium: Any,
) -> None:
    resident = 4001  # 李大爷, of jzsj-south
    run.telegram.files["AgAC-parcels-photo"] = png()
    ask = await says(run, resident, "/report")
    ask = await presses(run, resident, ask, "快递堆放占道")
    ask = await says(run, resident, "172号楼门口")
    ask = await says(run, resident, "快递堆满了楼门口", photo="AgAC-parcels-photo")
    confirm = await presses(run, resident, ask, "完成")
    done = await presses(run, resident, confirm, "✅ 提交")
    number = int(re.search(r"#(\d+)", done.text).group(1))  # type: ignore[union-attr]

    async with signed_in(chromium, await sign_in_link(run)) as page:
        await page.goto(f"{run.public_url}/console/cases/{number}")
        image = page.locator(".photos img").first
        await image.wait_for()
        width = await image.evaluate("img => img.complete ? img.naturalWidth : -1")
        for _ in range(50):
            if width > 0:
                break
            await page.wait_for_timeout(100)
            width = await image.evaluate("img => img.complete ? img.naturalWidth : -1")
    assert width == 160  # fetched from Telegram by file id, through the console
    assert run.telegram.file_downloads == 1


def _numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', html)]


async def test_a_staff_member_works_a_case_in_the_browser(
    run: Both,
    chromium: Any,
) -> None:
    parcels = await reported_by_sms(run, "快递堆在172号楼门口，过不去")
    noise = await reported_by_sms(run, "楼上装修噪音太吵")
    others = [
        await reported_by_sms(run, text)
        for text in ("172号楼电梯又坏了，老人下不了楼", "地下车库有人乱停车，堵住了出口")
    ]
    link = await sign_in_link(run)

    context = await chromium.new_context(accept_downloads=True, locale="zh-CN")
    page = await context.new_page()
    problems = errors_of(page)
    await sign_in(page, link)
    assert "刘博" in await page.inner_text("header")
    assert set(_numbers(await page.content())) == {parcels, noise, *others}

    # filter: parcels only, and the filter is kept in the URL and the form
    await page.select_option("select[name=category]", "parcels")
    await page.click("#apply-filters")
    await page.wait_for_url("**category=parcels**")
    assert _numbers(await page.content()) == [parcels]

    # the CSV of what the list shows
    async with page.expect_download() as download_info:
        await page.click("#export")
    download = await download_info.value
    content = downloaded(await download.path())
    assert content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [int(r["number"]) for r in rows] == [parcels]
    assert rows[0]["description"] == "快递堆在172号楼门口，过不去"

    # open the case and hand it to the supervisor: his card arrives in Telegram
    await page.click(f"a[href='/console/cases/{parcels}']")
    await page.wait_for_url(f"**/console/cases/{parcels}")
    assert "快递堆在172号楼门口" in await page.inner_text(".description")
    cards = len(run.telegram.inbox(SUPERVISOR))
    await page.select_option("#reassign select[name=manager]", "sup-jzsj-south")
    await page.click("#reassign button")
    await page.wait_for_selector("#case-holder:text-is('赵主管')")  # the page, loaded again
    await run.until(lambda: len(run.telegram.inbox(SUPERVISOR)) > cards)
    card = run.telegram.inbox(SUPERVISOR)[cards]
    assert card.text.startswith(f"📋 新诉求 #{parcels}")
    assert "刘博 改派给 赵主管 经工作台" in await page.inner_text("ol.timeline")

    # back to the list in English; the filters stay
    await page.goto(f"{run.public_url}/console/cases?category=parcels&status=all")
    await page.click("#switch-language")
    await page.wait_for_url("**category=parcels**")
    assert "Cases" in await page.inner_text("h1")
    assert await page.input_value("select[name=category]") == "parcels"

    # a new SMS report appears by itself (htmx polling), with no reload and the filters kept
    await page.evaluate("window.stillHere = true")
    newer = await reported_by_sms(run, "快递车又堵住172号楼门口")

    async def listed() -> bool:
        return newer in _numbers(await page.inner_html("#case-list"))

    for _ in range(120):  # up to 12 s: the list polls every 5 s
        if await listed():
            break
        await page.wait_for_timeout(100)
    assert await listed()
    assert await page.evaluate("window.stillHere === true")  # the page was not reloaded
    assert noise not in _numbers(await page.inner_html("#case-list"))  # still only parcels
    assert not refused_by_csp(problems), problems
    await context.close()


async def _fits(page: Any) -> None:
    """The page is no wider than the phone it is read on: nothing to scroll sideways."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


async def test_a_duplicate_merged_with_one_click_and_undone_on_a_phone(
    run: Both,
    chromium: Any,
) -> None:
    first = await reported_by_sms(run, "快递堆在172号楼门口，过不去")
    second = await reported_by_sms(run, "172号楼门口快递又堆满了，车开不进来")
    link = await sign_in_link(run)
    context = await chromium.new_context(locale="zh-CN", viewport=PHONE)
    page = await context.new_page()
    await sign_in(page, link)
    await _fits(page)

    # the newer case offers the older one as its likely duplicate: one click merges it there
    await page.goto(f"{run.public_url}/console/cases/{second}")
    assert await page.locator("[data-likely]").count() == 1
    await _fits(page)
    await page.click(f"button:has-text('将本案并入 #{first}')")
    await page.wait_for_selector("#merged-into")
    assert await page.inner_text("#case-status") == "不予受理"
    assert f"#{first}" in await page.inner_text("#merged-into")
    assert f"将本诉求并入 #{first}" in await page.inner_text("ol.timeline")
    await _fits(page)

    # the original lists it; the merge is undone from the duplicate's page
    await page.click(f"#merged-into a[href='/console/cases/{first}']")
    await page.wait_for_url(f"**/console/cases/{first}")
    assert await page.inner_text("#merged-from") == f"#{second}"
    await _fits(page)
    await page.goto(f"{run.public_url}/console/cases/{second}")
    await page.click("#unmerge button")
    await page.wait_for_selector("#merge")
    assert await page.inner_text("#case-status") == "已派单"
    assert await page.locator("#merged-into").count() == 0
    await _fits(page)
    await context.close()


async def test_the_web_command_when_the_console_is_off(tmp_path: Path) -> None:
    db = await migrated_sqlite(tmp_path / "off.db")
    try:
        async with both_channels(db) as off:
            off.telegram.add_user(STAFF, "刘博")
            seen = len(off.telegram.inbox(STAFF))
            await off.telegram.user_says(STAFF, "/web")
            await until(lambda: len(off.telegram.inbox(STAFF)) > seen)
            assert (
                off.telegram.inbox(STAFF)[seen].text
                == "工作台尚未开启（需要设置 CONSOLE_SECRET）。"
            )
    finally:
        await db.dispose()
