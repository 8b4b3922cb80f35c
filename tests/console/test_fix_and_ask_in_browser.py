"""Photos of the fix and a question to the reporter, on the real stack with both emulators and
the console in Debian's Chromium (issue 24):

- 李大爷 reports on Telegram; 王经理 takes the case on and replies to its card with a photo:
  李大爷's chat gets that photo with the rating buttons under it, and the case page shows it on
  the timeline, beside "marked it done";
- 刘博 asks the reporter of an SMS case a question from the case page; the reporter's next text
  answers it — no new case — and the answer is on the timeline and in 刘博's Telegram."""

from __future__ import annotations

from typing import Any

from tests.e2e.channels import Both

from .in_browser import (
    JZSJ_SOUTH,
    LI_DAYE,
    STAFF,
    needs_chromium,
    png,
    presses,
    reported_by_sms,
    says,
    sign_in_link,
    signed_in,
)

pytestmark = needs_chromium

RESIDENT, MANAGER = 4001, 2001  # 李大爷 and 王经理 in Telegram
FIX = "AgACAgIAAx-fix-172"  # the file id of 王经理's photo


async def _reported_on_telegram(run: Both, description: str) -> int:
    """李大爷 walks the guided report: category, place, words, no photos, submit."""
    ask = await says(run, RESIDENT, "/report")
    ask = await presses(run, RESIDENT, ask, "快递堆放占道")
    ask = await says(run, RESIDENT, "172号楼门口")
    ask = await says(run, RESIDENT, description)
    ask = await presses(run, RESIDENT, ask, ask.buttons[0][0]["text"])  # no photos
    received = await presses(run, RESIDENT, ask, ask.buttons[0][0]["text"])  # submit
    assert "已收到您的诉求 #" in received.text, received.text
    return int(received.text.split("#", 1)[1].split("（", 1)[0])


async def test_a_managers_photo_at_done_reaches_the_resident_to_rate_and_shows_on_the_page(
    run: Both, chromium: Any
) -> None:
    run.telegram.files[FIX] = png()
    number = await _reported_on_telegram(run, "驿站门口快递堆到了马路上")
    await run.until(lambda: any(f"#{number}" in s.text for s in run.telegram.inbox(MANAGER)))
    card = next(s for s in run.telegram.inbox(MANAGER) if f"新诉求 #{number}" in s.text)
    await run.telegram.user_presses(MANAGER, card, f"ack:{number}")
    await run.until(lambda: card.edits > 0)  # taken on: the card edited, "已办好" still on it
    assert f"done:{number}" in card.button_data()

    await run.telegram.user_says(MANAGER, "门口已清理干净", photo=FIX, reply_to=card)
    rating = f"rate:{number}:1"
    await run.until(lambda: any(rating in s.button_data() for s in run.telegram.inbox(RESIDENT)))
    told = next(s for s in run.telegram.inbox(RESIDENT) if rating in s.button_data())
    assert told.photo  # the photo itself, the rating buttons under it
    assert told.file_id == FIX
    assert "门口已清理干净" in told.text
    assert [b["text"] for row in told.buttons for b in row] == [
        "😊 满意",
        "🙂 基本满意",
        "😞 不满意",
    ]

    link = await sign_in_link(run, STAFF)
    async with signed_in(chromium, link, locale="zh-CN") as page:
        await page.goto(f"{run.public_url}/console/cases/{number}")
        resolved = page.locator("#timeline li.event-resolved")
        assert "王经理 表示已办好" in await resolved.inner_text()
        image = resolved.locator("img")
        await image.wait_for()
        assert await image.get_attribute("alt") == "照片 1"
        drawn = await image.evaluate("i => i.complete && i.naturalWidth")
        assert drawn == 160  # fetched from Telegram by its file id, and drawn


async def test_a_question_from_the_case_page_is_answered_by_sms_and_joins_the_timeline(
    run: Both, chromium: Any
) -> None:
    number = await reported_by_sms(run, "172号楼门口快递堆满了")
    question = "快递现在还堆在门口吗？"
    link = await sign_in_link(run, STAFF)
    async with signed_in(chromium, link, locale="zh-CN") as page:
        await page.goto(f"{run.public_url}/console/cases/{number}")
        await page.get_by_label("要问居民的问题（居民下一条消息即为回答）").fill(question)
        async with page.expect_navigation():  # asked: the page comes back whole
            await page.click("#ask button[type=submit]")
        assert question in await page.locator("#timeline li.event-asked").inner_text()
        await run.until(lambda: any(question in s.body for s in run.twilio.inbox(LI_DAYE)))
        asked = next(s.body for s in run.twilio.inbox(LI_DAYE) if question in s.body)
        assert asked.startswith(f"关于您的诉求 #{number}（快递堆放占道），刘博想问您：")

        reply = await run.text(LI_DAYE, JZSJ_SOUTH, "还在，堆了三层")
        assert any(m.startswith(f"收到，您的回复已转给诉求 #{number}") for m in reply.messages)
        await page.reload()
        timeline = page.locator("#timeline")
        answered = await timeline.locator("li.event-answered").inner_text()
        assert "回答了问题" in answered
        assert "还在，堆了三层" in answered
        await page.goto(f"{run.public_url}/console/cases")
        assert await page.locator(f"a[href='/console/cases/{number + 1}']").count() == 0
    await run.until(lambda: any("答：还在，堆了三层" in s.text for s in run.telegram.inbox(STAFF)))
