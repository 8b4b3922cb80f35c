"""Reply templates in the console (issue 24): a case page's action forms offer the category's saved
replies (radio buttons, no script), and the one chosen is the text the resident receives — in the
resident's language, with what was written in the form after it. Through the real app over
httpx; what is checked is the page a person reads and the messages the resident is sent."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from bot.console.render import page
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.models import Case, CaseEvent, OutboxMessage
from tests.console.conftest import STAFF, Browser
from tests.console.in_browser import (
    LI_DAYE,
    PHONE,
    errors_of,
    needs_chromium,
    refused_by_csp,
    reported_by_sms,
    sign_in_link,
    signed_in,
)
from tests.console.test_accessibility import _check as accessible
from tests.e2e.channels import Both

SPOKE = "已联系驿站负责人，快递已移入店内，门口通道已清空。"
SPOKE_EN = "We spoke to the parcel station; the parcels are inside now and the way is clear."
RADIO = re.compile(r'<input type="radio" name="template" value="(\d*)"[^>]*> ([^<]+)</label>')


async def _parcels(ctx: ServiceContext, resident: str = "r-jzsj-172") -> int:
    community = "yunwan" if resident == "r-yunwan-en" else "jzsj-south"
    new = NewReport(community, "parcels", "快递堆在马路上", location="172号楼")
    case = await report(ctx, resident_id=resident, channel=Channel.TELEGRAM, new=new)
    assert case.number is not None
    return case.number


async def _told(ctx: ServiceContext, person_id: str, template: str) -> list[str]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage.text).where(
            OutboxMessage.person_id == person_id, OutboxMessage.template == template
        )
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def _status(ctx: ServiceContext, number: int) -> str:
    async with ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    return case.status


def _form(html: str, form_id: str) -> str:
    start = html.index(f'id="{form_id}"')
    return html[start : html.index("</form>", start)]


def test_the_partial_offers_the_actions_replies_as_labelled_radio_buttons() -> None:
    offered = {"close": ["甲 & <乙>", "丙"]}
    html = page(
        "_reply_templates.html",
        language="zh",
        reply_templates=offered,
        reply_action="close",
        reply_field="close-reason",
    ).body.decode()
    assert RADIO.findall(html) == [
        ("", "不用（自己写）"),
        ("0", "甲 &amp; &lt;乙&gt;"),
        ("1", "丙"),
    ]
    assert 'id="close-reason-replies"' in html
    assert "<legend>常用回复</legend>" in html
    assert "<script" not in html  # the console's CSP allows no inline script
    assert "style=" not in html  # nor inline style
    for nothing in ({"reply_action": "reject"}, {"reply_action": "close", "reply_templates": {}}):
        values = {"reply_templates": offered, **nothing}
        assert page("_reply_templates.html", language="zh", **values).body.strip() == b""
    assert page("_reply_templates.html", language="zh").body.strip() == b""  # nothing passed


async def test_the_case_page_offers_the_categorys_replies_where_they_apply(
    browser: Browser,
) -> None:
    number = await _parcels(browser.ctx)
    await browser.sign_in(STAFF)
    html = (await browser.client.get(f"/console/cases/{number}")).text
    assert RADIO.findall(_form(html, "close")) == [("", "不用（自己写）"), ("0", SPOKE)]
    assert [text for _, text in RADIO.findall(_form(html, "reject"))][1:] == [
        "驿站门店的经营问题不属于社区物业管理范围，请拨打 12345 市民服务热线反映。"
    ]
    assert RADIO.findall(_form(html, "note")) == []  # an internal note has no saved replies


async def test_a_reply_chosen_at_close_is_the_text_the_resident_receives(
    browser: Browser,
) -> None:
    number = await _parcels(browser.ctx)
    await browser.sign_in(STAFF)
    closed = await browser.act(number, action="close", template="0", reason="")
    assert closed.status_code == 303
    assert await _status(browser.ctx, number) == "closed"
    [told] = await _told(browser.ctx, "r-jzsj-172", "case.closed_by_staff")
    assert told == f"诉求 #{number} 已由社区工作人员办结。说明：{SPOKE}"
    async with browser.ctx.db.reading() as session:
        query = select(CaseEvent).where(CaseEvent.case_number == number, CaseEvent.kind == "closed")
        [event] = (await session.exec(query)).all()
    assert (event.note, event.channel, event.actor_id) == (SPOKE, "web", STAFF)


async def test_what_is_written_follows_the_reply_and_a_resident_reads_their_language(
    browser: Browser,
) -> None:
    number = await _parcels(browser.ctx, "r-yunwan-en")  # Anna, in Yunwan, reads English
    await browser.sign_in("lina")  # Yunwan's staff, who reads Chinese
    closed = await browser.act(number, action="close", template="0", reason="Call me if not.")
    assert closed.status_code == 303
    [told] = await _told(browser.ctx, "r-yunwan-en", "case.closed_by_staff")
    note = f"{SPOKE_EN}\nCall me if not."
    assert told == f"Case #{number} was closed by community staff. Note: {note}"


async def test_a_choice_that_names_no_reply_changes_nothing(browser: Browser) -> None:
    number = await _parcels(browser.ctx)
    await browser.sign_in(STAFF)
    for choice in ("7", "x", "-1"):
        refused = await browser.act(number, action="close", template=choice, reason="已处理")
        assert refused.status_code == 400
    refused = await browser.act(number, action="resolve", template="0")  # none for resolve here
    assert refused.status_code == 400
    assert await _status(browser.ctx, number) == "assigned"
    assert await _told(browser.ctx, "r-jzsj-172", "case.closed_by_staff") == []


@needs_chromium
async def test_a_reply_chosen_at_close_in_the_browser_reaches_the_residents_phone(
    run: Both, chromium: Any
) -> None:
    number = await reported_by_sms(run, "快递堆在172号楼门口，过不去")
    # On a phone: the replies are labelled, pass axe and scroll nothing sideways.
    options = {"locale": "zh-CN", "viewport": PHONE}
    async with signed_in(chromium, await sign_in_link(run), **options) as page:
        problems = errors_of(page)
        await page.goto(f"{run.public_url}/console/cases/{number}")
        assert await page.locator("#close-reason-replies input[type=radio]").count() == 2
        await accessible(page, "a case page with saved replies", "phone")
        await page.get_by_label(SPOKE).check()  # the saved reply, by the words on its label
        await page.click("#close button")
        await page.wait_for_selector("#case-status:text-is('已办结')")
        assert not refused_by_csp(problems), problems
    # What reaches 李大爷's phone is the saved reply, word for word, and nothing else with it.
    expected = f"诉求 #{number} 已由社区工作人员办结。说明：{SPOKE}"
    await run.until(lambda: expected in [m.body for m in run.twilio.inbox(LI_DAYE)])
    told = [m.body for m in run.twilio.inbox(LI_DAYE) if "办结" in m.body]
    assert told == [expected]
