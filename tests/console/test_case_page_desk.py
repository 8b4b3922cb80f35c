"""The case page as a decision (issue 24): what happened in sentences in the reader's language,
channels by name; what was sent to whom, a card's edits under the card with the status each
showed (twenty edits read as one card); every field labelled, the likely next action first; a
refusal said beside its form, by htmx or by the page shown again."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from sqlmodel import col, select

from bot.delivery.claims import claim_due
from bot.delivery.results import record_sent
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Action, Channel, Rating
from db.models import Case, OutboxMessage
from tests.conftest import Clock
from tests.services.example import ACTORS, REQUESTS, case_in

from .conftest import CSRF, MANAGER, STAFF, Browser
from .in_browser import needs_chromium, reported_by_sms, sign_in_link

ROUND = (  # one round of a case that will not stay fixed: three moves of the manager's card
    ("manager", Request(Action.ACKNOWLEDGE)),
    ("manager", Request(Action.RESOLVE, note="已清理")),
    ("resident", Request(Action.RATE, rating=Rating.DISSATISFIED, note="快递还在")),
)


async def deliver(ctx: ServiceContext) -> None:
    """Everything waiting goes out, as the dispatcher records it when the provider accepts it."""
    for channel in ("telegram", "sms"):
        claimed = await claim_due(ctx, channel=channel, limit=500, lease=timedelta(minutes=1))
        await record_sent(ctx, sent={m.id: f"{channel}-{m.id}" for m in claimed})


async def _reported(ctx: ServiceContext, channel: Channel) -> int:
    """李大爷 reports parcels in the road by ``channel``: the case's number."""
    new = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼")
    case = await report(ctx, resident_id="r-jzsj-172", channel=channel, new=new)
    assert case.number is not None
    return case.number


async def outbox(ctx: ServiceContext, number: int) -> list[OutboxMessage]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.case_number == number)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


def message_items(page: str) -> dict[int, str]:
    """The page's list of what was sent: each message's id and its markup (its edits in it)."""
    found = re.findall(r'<li class="message" data-message="(\d+)">(.*?)\n  </li>', page, re.S)
    return {int(i): body for i, body in found}


async def test_twenty_card_edits_read_as_one_card_with_its_edits(browser: Browser) -> None:
    ctx = browser.ctx
    number = await _reported(ctx, Channel.TELEGRAM)
    await deliver(ctx)
    steps = [*ROUND * 6, ROUND[0], ROUND[1]]  # twenty moves, ending "resolved"
    for who, request in steps:
        await act(ctx, number=number, actor=ACTORS[who], request=request)
        await deliver(ctx)
    rows = await outbox(ctx, number)
    card = next(r for r in rows if r.person_id == MANAGER and r.template == "case.card")
    edits = [r for r in rows if r.edit_of == card.id]
    assert len(edits) == 20
    assert {r.status for r in edits} == {"sent"}

    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    items = message_items(page)
    assert sorted(items) == [r.id for r in rows if r.edit_of is None]  # one entry per message
    assert len(items) < len(rows)
    shown = items[card.id]
    assert "发给 王经理（物业负责人）" in shown
    assert f'<q class="excerpt">📋 新诉求 #{number}</q>' in shown
    assert page.count(f'<q class="excerpt">📋 新诉求 #{number}</q>') == 1  # not twenty times
    assert "卡片更新 20 次，最后显示「待评价」" in shown
    listed = re.findall(r'<li class="edit"><time>[^<]+</time> (更新为「[^」]+」) ·', shown)
    shows = ["处理中", "待评价", "已派单"] * 6 + ["处理中", "待评价"]
    assert listed == [f"更新为「{s}」" for s in shows]
    assert shown.count('<span class="state">已发送</span>') == 21  # the card and its edits
    received = [m for m in items.values() if f"已收到您的诉求 #{number}" in m]
    assert len(received) == 1  # the resident's card once, with its own edits under it
    assert "发给 李大爷（居民）" in received[0]


async def test_the_timeline_tells_what_happened_in_words(browser: Browser, clock: Clock) -> None:
    ctx = browser.ctx
    number = await _reported(ctx, Channel.SMS)
    for who, request in ROUND:
        await act(ctx, number=number, actor=ACTORS[who], request=request)
    await act(ctx, number=number, actor=ACTORS["system"], request=REQUESTS["escalate"])
    await browser.sign_in(STAFF)
    await browser.act(number, action="reassign", manager="sup-jzsj-south", reason="请再看看")
    page = (await browser.client.get(f"/console/cases/{number}")).text
    story = _texts(page, "timeline")
    assert story == [
        "李大爷 反映了问题 经短信",
        "系统 派单给 王经理",
        "王经理 接单 经Telegram",
        "王经理 表示已办好 经Telegram 已清理",
        "李大爷 评价：不满意 经Telegram 快递还在",
        "重新交办（重办），由物业主管跟进 经Telegram",  # its note said once, above
        "系统 升级至社区工作人员",
        "刘博 改派给 赵主管 经工作台 请再看看",
    ]
    assert "<dd>短信</dd>" in page  # the channel it came by, by name
    assert "refused." not in page
    assert "event." not in page

    csrf = re.search(CSRF, page)
    assert csrf
    await browser.client.post(
        "/console/language",
        data={"csrf": csrf[1], "language": "en", "next": f"/console/cases/{number}"},
    )
    english = _texts((await browser.client.get(f"/console/cases/{number}")).text, "timeline")
    assert english[0] == "李大爷 reported the problem via SMS"
    assert english[2] == "王经理 took it on via Telegram"
    assert english[4] == "李大爷 rated it: not satisfied via Telegram 快递还在"
    assert english[6] == "The system escalated it to the community staff"
    assert english[7] == "刘博 reassigned it to 赵主管 via console 请再看看"


async def test_every_field_is_labelled_and_the_likely_next_action_comes_first(
    browser: Browser, clock: Clock
) -> None:
    ctx = browser.ctx
    unassigned = await case_in(ctx, "unassigned")
    waiting = await case_in(ctx, "assigned")
    resolved = await case_in(ctx, "resolved")
    await browser.sign_in(STAFF)
    for number in (unassigned, waiting, resolved):
        page = (await browser.client.get(f"/console/cases/{number}")).text
        forms = Fields()
        forms.feed(page)
        assert forms.fields, number
        assert forms.unlabelled() == [], number
        assert [f for f in forms.fields if "placeholder" in f] == [], number
    first = {n: _forms(await _page(browser, n))[0] for n in (unassigned, waiting, resolved)}
    assert first == {unassigned: "reassign", waiting: "reassign", resolved: "close"}
    assert "此诉求没有负责人，请改派给一位负责人。" in await _page(browser, unassigned)
    assert "等待负责人处理（期限" in await _page(browser, waiting)
    assert "等待居民评价" in await _page(browser, resolved)
    clock.advance(hours=1)  # past the 30 minutes to acknowledge it
    late = await _page(browser, waiting)
    assert "已超过期限" in late
    assert _forms(late)[0] == "reassign"
    assert 'class="act next"' in late
    await browser.sign_in(MANAGER)  # its holder is asked to take it on, not to hand it away
    held = await _page(browser, waiting)
    assert _forms(held)[0] == "acknowledge"
    assert "接单已超时" in held


async def test_a_refusal_is_said_beside_its_form(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(STAFF)
    whole = await browser.act(number, action="close", reason="", slot="close")
    assert whole.status_code == 409
    beside = re.search(r'<div class="answer" id="answer-close">(.*?)</div>', whole.text)
    assert beside
    assert beside[1] == '<p class="refusal" role="alert">请说明原因。</p>'
    assert whole.text.count('role="alert"') == 1  # there, and not at the top as well

    page = await _page(browser, number)
    token, form = re.search(CSRF, page), re.search(r'name="form" value="([^"]+\.close)"', page)
    assert token
    assert form
    fields = {"csrf": token[1], "form": form[1], "slot": "close", "action": "close"}
    headers = {"HX-Request": "true", "HX-Target": "answer-close"}
    url = f"/console/cases/{number}/act"
    refused = await browser.client.post(url, data={**fields, "reason": ""}, headers=headers)
    assert refused.status_code == 200  # htmx swaps it into the form's slot
    assert refused.text.startswith('<p class="refusal" role="alert">请说明原因。</p>')
    assert "<html" not in refused.text
    oob = r'name="form" value="([^"]+)" id="form-id-close" hx-swap-oob="true"'
    fresh = re.search(oob, refused.text)
    assert fresh
    assert fresh[1] != form[1]  # the refused form's id is spent: the form gets a new one
    again = {**fields, "form": fresh[1], "reason": "已电话沟通解决"}
    done = await browser.client.post(url, data=again, headers=headers)
    assert done.headers["HX-Redirect"] == f"/console/cases/{number}"
    async with browser.ctx.db.reading() as session:
        closed = await session.get(Case, number)
    assert closed is not None
    assert closed.status == "closed"


@needs_chromium
async def test_a_refusal_appears_beside_its_form_in_the_browser(run: Any, chromium: Any) -> None:
    first = await reported_by_sms(run, "快递堆在172号楼门口，过不去")
    second = await reported_by_sms(run, "172号楼门口快递又堆满了")
    link = await sign_in_link(run)
    context = await chromium.new_context(locale="zh-CN")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(link)
    await page.click("#sign-in")
    await page.wait_for_url("**/console/cases")
    await page.goto(f"{run.public_url}/console/cases/{second}")
    await page.evaluate("window.stillHere = true")
    spent = await page.input_value("#form-id-merge")
    await page.fill("#merge-into", "99999")
    await page.click("#merge button")
    await page.wait_for_selector("#answer-merge .refusal")
    assert await page.inner_text("#answer-merge") == "没有找到原诉求 #99999。"
    assert await page.evaluate("window.stillHere === true")  # said in place, nothing reloaded
    assert await page.input_value("#form-id-merge") != spent  # the form may be sent again
    await page.fill("#merge-into", f"#{first}")  # the same form again, now with a case
    await page.click("#merge button")
    await page.wait_for_selector("#merged-into")
    assert await page.inner_text("#case-status") == "不予受理"
    assert not [p for p in problems if "Content Security Policy" in p], problems
    await context.close()


class Fields(HTMLParser):
    """The fields a person fills in on a page (not hidden ones): those without a label — one
    whose ``for`` names them, or one around them (a saved reply's radio button)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str]] = []
        self.labels: set[str] = set()
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "label":
            self._in_label += 1
            if "for" in found:
                self.labels.add(found["for"])
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.fields.append({"tag": tag, "labelled": str(self._in_label > 0), **found})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1

    def unlabelled(self) -> list[dict[str, str]]:
        """The fields no label names or wraps."""
        return [
            f for f in self.fields if f["labelled"] == "False" and f.get("id") not in self.labels
        ]


def _forms(page: str) -> list[str]:
    """The ids of the action forms, in the order the page offers them."""
    start = page.index('id="actions"')
    actions = page[start : page.index("</section>", start)]
    return re.findall(r'<(?:form|p) [^>]*id="([a-z]+)" class="act', actions)


def _texts(page: str, list_id: str) -> list[str]:
    """The text of each item of the page's list ``list_id``."""
    start = page.index(f'id="{list_id}"')
    body = page[start : page.index("</ol>", start)]
    items = re.findall(r"<li[^>]*>(.*?)</li>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", i).split()).split(" ", 2)[2] for i in items]


async def _page(browser: Browser, number: int) -> str:
    return (await browser.client.get(f"/console/cases/{number}")).text
