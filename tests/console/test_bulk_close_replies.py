"""The bulk close offers saved replies (issue 24): staff tick cases on the list and press close
without a note; the next page offers the close replies of the ticked cases' categories (one
choice, labelled by category and the cases of it), and the one chosen is what every ticked
case's resident receives — each in their own language, with what was written after it. A choice
that names no such reply, or neither a reply nor a note, changes nothing."""

from __future__ import annotations

import re

from sqlmodel import col, select

from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from db.models import Case, OutboxMessage
from tests.services.example import snapshot

from .conftest import CSRF, FORM, STAFF, Browser, events_of

SPOKE = "已联系驿站负责人，快递已移入店内，门口通道已清空。"
SPOKE_EN = "We spoke to the parcel station; the parcels are inside now and the way is clear."
LIFT = "已转交电梯维保单位处理，维修时间已电话告知您。"
RADIO = re.compile(r'<input type="radio" name="template" value="([^"]*)"[^>]*> ([^<]+)</label>')
LEGEND = re.compile(r"<legend>([^<]+)</legend>")


async def _case(ctx: ServiceContext, category: str, resident: str = "r-jzsj-172") -> int:
    """A case in ``category`` reported by ``resident`` in jzsj-south (刘博's community)."""
    new = NewReport("jzsj-south", category, "楼下有问题", location="172号楼")
    case = await report(ctx, resident_id=resident, channel=Channel.SMS, new=new)
    assert case.number is not None
    return case.number


async def _list_form(browser: Browser) -> dict[str, str]:
    """The hidden fields of the list's bulk form: its CSRF token and its id."""
    page = (await browser.client.get("/console/cases")).text
    token, form_id = CSRF.search(page), FORM.search(page)
    assert token, page[:300]
    assert form_id, page[:300]
    return {"csrf": token.group(1), "form": form_id.group(1), "next": "/console/cases"}


async def _send(browser: Browser, numbers: list[int], **fields: str) -> tuple[int, str]:
    """The list's bulk form, ``numbers`` ticked, sent with ``fields``: the answer's status and
    page."""
    data = {**await _list_form(browser), **fields, "number": [str(n) for n in numbers]}
    answer = await browser.client.post("/console/cases/bulk", data=data)
    return answer.status_code, answer.text


async def _told(ctx: ServiceContext, person_id: str) -> list[str]:
    """What ``person_id`` was told of a close by staff, oldest first."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage.text).where(
            OutboxMessage.person_id == person_id,
            OutboxMessage.template == "case.closed_by_staff",
        )
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def _statuses(ctx: ServiceContext, numbers: list[int]) -> list[str]:
    async with ctx.db.reading() as session:
        query = select(Case.status).where(col(Case.number).in_(numbers))
        return list((await session.exec(query.order_by(col(Case.number)))).all())


async def test_a_close_without_a_note_offers_the_ticked_cases_categories_replies(
    browser: Browser,
) -> None:
    parcels = await _case(browser.ctx, "parcels")
    lift = await _case(browser.ctx, "elevator")
    noise = await _case(browser.ctx, "noise")  # a category without saved replies
    await browser.sign_in(STAFF)
    before = await snapshot(browser.ctx)
    status, page = await _send(browser, [noise, lift, parcels], action="close", reason="")
    assert status == 200
    assert 'id="bulk-closing"' in page
    assert RADIO.findall(page) == [
        ("", "不用（自己写）"),
        ("parcels:0", SPOKE),
        ("elevator:0", LIFT),
    ]
    legends = LEGEND.findall(page)
    assert f"快递堆放占道 · #{parcels}" in legends
    assert f"电梯故障 · #{lift}" in legends
    assert not [legend for legend in legends if "噪音" in legend]
    # the three cases still ticked, and the list's form id kept (sent twice, it acts once)
    assert sorted(int(n) for n in re.findall(r'name="number" value="(\d+)"', page)) == sorted(
        [parcels, lift, noise]
    )
    assert await snapshot(browser.ctx) == before  # asked, nothing done yet


async def test_the_chosen_reply_reaches_every_resident_in_their_own_language(
    browser: Browser,
) -> None:
    parcels = await _case(browser.ctx, "parcels")
    lift = await _case(browser.ctx, "elevator")
    # Anna reads English; she reports in 刘博's community too.
    annas = await _case(browser.ctx, "parcels", resident="r-yunwan-en")
    await browser.sign_in(STAFF)
    numbers = [parcels, lift, annas]
    status, page = await _send(
        browser, numbers, action="close", template="parcels:0", reason="有问题请再联系。"
    )
    assert status == 200, page[:500]
    assert "3 件已办，0 件未办" in page
    assert await _statuses(browser.ctx, numbers) == ["closed"] * 3
    for number in numbers:
        assert (await events_of(browser.ctx, number))[-1] == ("closed", "web", STAFF)
    # One choice for all: the elevator case's resident gets the chosen reply too.
    assert await _told(browser.ctx, "r-jzsj-172") == [
        f"诉求 #{parcels} 已由社区工作人员办结。说明：{SPOKE}\n有问题请再联系。",
        f"诉求 #{lift} 已由社区工作人员办结。说明：{SPOKE}\n有问题请再联系。",
    ]
    assert await _told(browser.ctx, "r-yunwan-en") == [
        f"Case #{annas} was closed by community staff. Note: {SPOKE_EN}\n有问题请再联系。"
    ]


async def test_a_reply_alone_is_enough_and_the_same_form_sent_twice_acts_once(
    browser: Browser,
) -> None:
    first, second = await _case(browser.ctx, "parcels"), await _case(browser.ctx, "parcels")
    await browser.sign_in(STAFF)
    data = {
        **await _list_form(browser),
        "action": "close",
        "template": "parcels:0",
        "reason": "",
        "number": [str(first), str(second)],
    }
    done = await browser.client.post("/console/cases/bulk", data=data)
    assert "2 件已办，0 件未办" in done.text
    again = await browser.client.post("/console/cases/bulk", data=data)
    assert again.text.count("此表单已提交过，未重复办理。") == 2
    assert len(await _told(browser.ctx, "r-jzsj-172")) == 2  # once each


async def test_neither_reply_nor_note_or_a_choice_that_names_no_reply_changes_nothing(
    browser: Browser,
) -> None:
    parcels = await _case(browser.ctx, "parcels")
    noise = await _case(browser.ctx, "noise")
    await browser.sign_in(STAFF)
    before = await snapshot(browser.ctx)
    # The close's own step sent with nothing chosen and nothing written: asked again.
    status, page = await _send(browser, [parcels], action="close", template="", reason=" ")
    assert status == 400
    assert "办结需要填写说明。未做任何更改。" in page
    assert 'id="bulk-closing"' in page
    for choice in ("parcels:7", "parcels:", "parcels:x", "elevator:0", "noise:0", ":0", "0"):
        status, page = await _send(browser, [parcels, noise], action="close", template=choice)
        assert status == 400, choice
        assert "表单内容不完整，未做任何更改。" in page, choice
    # Ticked cases none of whose categories has a saved reply: the note is simply required.
    status, page = await _send(browser, [noise], action="close", reason="")
    assert status == 400
    assert "办结需要填写说明。未做任何更改。" in page
    assert 'id="bulk-closing"' not in page
    assert await snapshot(browser.ctx) == before
    assert await _told(browser.ctx, "r-jzsj-172") == []
