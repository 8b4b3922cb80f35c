"""The case list as a work queue (issue 24): each row says what the problem is, whose it is and
how its deadline stands in words; one click shows "mine", "unassigned" or "escalated to staff";
the list sorts by due time; staff tick several cases and reassign or close them in one form —
each case its own use case (channel ``web``), all or nothing per case — and read what happened
to each. In Debian's Chromium: three cases ticked and handed to 赵主管 reach his Telegram."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from bot.services.cases.lifecycle import Request, act, escalate
from bot.services.cases.report import NewReport, report
from bot.services.staff.bulk import MAX_CASES
from bot.services.unit.context import Actor
from core.cases import Action, Channel
from db.models import Case, OutboxMessage
from tests.conftest import Clock
from tests.e2e.channels import Both
from tests.services.example import ACTORS, case_in, snapshot

from .conftest import CSRF, MANAGER, STAFF, SUPERVISOR, Browser, events_of
from .in_browser import SUPERVISOR as SUPERVISOR_TELEGRAM
from .in_browser import (
    errors_of,
    needs_chromium,
    refused_by_csp,
    reported_by_sms,
    sign_in_link,
    signed_in,
)

ROW = re.compile(r'<tr[^>]*data-number="(\d+)">(.*?)</tr>', re.S)
FORM_ID = re.compile(r'name="form" value="([^"]+)"')


async def _case(browser: Browser, text: str, *, category: str = "parcels") -> int:
    """A case 李大爷 texts in jzsj-south (routed to 王经理)."""
    case = await report(
        browser.ctx,
        resident_id="r-jzsj-172",
        channel=Channel.SMS,
        new=NewReport("jzsj-south", category, text, location="172号楼"),
    )
    assert case.number is not None
    return case.number


def _texts(page: str) -> dict[int, str]:
    """A page's case rows as their text (tags dropped), by case number, in order."""
    return {int(n): " ".join(re.sub(r"<[^>]+>", " ", row).split()) for n, row in ROW.findall(page)}


async def _rows(browser: Browser, path: str = "/console/cases") -> dict[int, str]:
    """The list's rows at ``path``, as ``_texts``."""
    return _texts((await browser.client.get(path)).text)


async def test_a_row_says_the_problem_whose_it_is_and_its_deadline_in_words(
    browser: Browser, clock: Clock
) -> None:
    long = "快递堆在172号楼门口，过不去，老人推车出不了门，已经三天没人来收拾了，请物业尽快处理"
    late = await _case(browser, long)
    clock.advance(hours=2, minutes=10)
    fresh = await _case(browser, "楼道灯不亮\n晚上看不见路", category="broken-facility")
    taken = await _case(browser, "电梯异响", category="elevator")
    await act(
        browser.ctx, number=taken, actor=ACTORS["manager"], request=Request(Action.ACKNOWLEDGE)
    )
    await browser.sign_in(STAFF)
    rows = await _rows(browser)
    assert "已超时 1 小时" in rows[late]  # 30 minutes to acknowledge, 2 h 10 min ago
    assert long[:39] + "…" in rows[late]
    assert long not in rows[late]  # one line, cut
    assert "王经理" in rows[late]  # the holder
    assert "1 小时内到期" in rows[fresh]
    assert "楼道灯不亮" in rows[fresh]
    assert "晚上看不见路" not in rows[fresh]
    assert "超时" not in rows[taken]
    assert "到期" not in rows[taken]
    clock.advance(minutes=35)
    assert "已超时 5 分钟" in (await _rows(browser))[fresh]
    clock.advance(days=3)
    await browser.sign_in(STAFF)  # the session has ended meanwhile
    assert "已超时 3 天" in (await _rows(browser))[late]
    page = (await browser.client.get("/console/cases")).text
    assert re.search(rf'<tr class="overdue" data-number="{late}">', page)  # and tinted
    csrf = await browser.csrf()
    await browser.client.post("/console/language", data={"csrf": csrf, "language": "en"})
    assert "3 days overdue" in (await _rows(browser))[late]


async def test_the_one_click_views_for_staff_and_for_those_who_hold_cases(
    browser: Browser,
) -> None:
    plain = await case_in(browser.ctx, "assigned")
    waiting = await case_in(browser.ctx, "unassigned")  # 王经理 declined it
    climbed = await case_in(browser.ctx, "assigned")
    await escalate(browser.ctx, number=climbed)  # to 赵主管, 王经理's supervisor
    at_staff = await case_in(browser.ctx, "assigned")
    for _ in range(2):
        await escalate(browser.ctx, number=at_staff)  # past the supervisor: to the staff
    handed = await case_in(browser.ctx, "assigned")
    await act(
        browser.ctx,
        number=handed,
        actor=Actor(STAFF, Channel.WEB),
        request=Request(Action.REASSIGN, manager_id=SUPERVISOR),
    )
    # 赵主管 has nobody above him: one level up, his case is the staff's.
    await escalate(browser.ctx, number=handed)
    await browser.sign_in(STAFF)
    everything = await _rows(browser)
    assert set(everything) == {plain, waiting, climbed, at_staff, handed}
    assert list(await _rows(browser, "/console/cases?view=unassigned")) == [waiting]
    escalated = await _rows(browser, "/console/cases?view=escalated")
    assert set(escalated) == {at_staff, handed}
    assert "升级到社区" in escalated[at_staff]
    assert "升级到社区" not in everything[climbed]
    mine = await _rows(browser, "/console/cases?view=mine")
    assert set(mine) == {at_staff, handed}  # escalated to the staff, or handed on by him
    assert all("我的" in text for text in mine.values())
    assert "我的" not in everything[plain]
    page = (await browser.client.get("/console/cases?view=mine&category=parcels")).text
    assert 'aria-current="page"><strong>我的</strong>' in page
    assert '<input type="hidden" name="view" value="mine">' in page  # the filters keep it
    assert "已升级到社区、由社区工作人员跟进的诉求" in page  # what "mine" means, in words
    assert 'href="/console/cases?category=parcels&amp;view=unassigned"' in page
    csv = await browser.client.get("/console/cases.csv?view=unassigned")
    assert [int(line.split(",")[0]) for line in csv.text.splitlines()[1:]] == [waiting]

    await browser.sign_in(SUPERVISOR)
    mine = await _rows(browser, "/console/cases?view=mine")
    assert set(mine) == {climbed, at_staff, handed}  # escalated to him, or his own
    page = (await browser.client.get("/console/cases")).text
    assert "view=unassigned" not in page  # nothing waits for a supervisor to assign it
    assert 'id="bulk"' not in page
    assert 'name="number"' not in page
    await browser.sign_in(MANAGER)
    assert set(await _rows(browser, "/console/cases?view=mine")) == {
        plain,
        climbed,
        at_staff,
        waiting,  # declined: he acted on it
    }


async def test_the_list_sorts_by_the_next_deadline(browser: Browser, clock: Clock) -> None:
    first = await _case(browser, "快递堆在门口")
    clock.advance(minutes=20)
    urgent = await _case(browser, "电梯困人", category="elevator")  # 15 minutes to answer
    second = await _case(browser, "楼上装修太吵", category="noise")
    taken = await _case(browser, "车库乱停车", category="parking")
    await act(
        browser.ctx, number=taken, actor=ACTORS["manager"], request=Request(Action.ACKNOWLEDGE)
    )
    clock.advance(minutes=15)  # the first is overdue
    done = await case_in(browser.ctx, "resolved")  # waits on the resident, not on staff
    await browser.sign_in(STAFF)
    assert list(await _rows(browser)) == [first, done, taken, second, urgent]  # as it was
    by_due = list(await _rows(browser, "/console/cases?sort=due"))
    assert by_due == [first, urgent, second, taken, done]
    page = (await browser.client.get("/console/cases?sort=due")).text
    assert '<option value="due" selected>按期限，最早到期的在前</option>' in page
    assert 'hx-get="/console/cases?sort=due"' in page  # the refresh keeps the order


async def _form(browser: Browser) -> tuple[str, str]:
    """The list's CSRF token and the id of its bulk form."""
    page = (await browser.client.get("/console/cases")).text
    token, form_id = CSRF.search(page), FORM_ID.search(page)
    assert token, page[:300]
    assert form_id, page[:300]
    return token[1], form_id[1]


async def _bulk(browser: Browser, numbers: list[int], form_id: str = "", **fields: str) -> Any:
    """Tick ``numbers`` on the list and send its bulk form (that of ``form_id``) with ``fields``."""
    token, shown = await _form(browser)
    data = {"csrf": token, "form": form_id or shown, "next": "/console/cases", **fields}
    return await browser.client.post(
        "/console/cases/bulk", data={**data, "number": [str(n) for n in numbers]}
    )


async def test_several_cases_reassigned_at_once_each_on_its_own(browser: Browser) -> None:
    first = await case_in(browser.ctx, "assigned")
    second = await case_in(browser.ctx, "acknowledged")
    closed = await case_in(browser.ctx, "closed")
    elsewhere = await report(
        browser.ctx,
        resident_id="r-bgy-72",
        channel=Channel.SMS,
        new=NewReport("bgy-north", "parcels", "快递堆在门口", location="72号楼"),
    )
    assert elsewhere.number is not None
    await browser.sign_in(STAFF)
    before = await snapshot(browser.ctx)
    numbers = [first, closed, second, elsewhere.number]
    _, form_id = await _form(browser)
    done = await _bulk(browser, numbers, form_id, action="reassign", manager=SUPERVISOR)
    assert done.status_code == 200
    assert browser.kicks  # delivery was woken for the cards
    assert "2 件已办，2 件未办" in done.text
    rows = _texts(done.text)
    assert list(rows) == numbers
    assert rows[first] == f"#{first} ✓ 已改派给 赵主管"
    assert rows[second] == f"#{second} ✓ 已改派给 赵主管"
    assert rows[closed] == f"#{closed} ✗ 未办：诉求 #{closed} 已结束（已办结），无法再操作。"
    # Another community's case is refused as one that does not exist, and left alone.
    other = elsewhere.number
    assert rows[other] == f"#{other} ✗ 未办：没有找到诉求 #{other}。"
    for number in (first, second):
        assert (await events_of(browser.ctx, number))[-1] == ("reassigned", "web", STAFF)
    async with browser.ctx.db.reading() as session:
        cases = {c.number: c for c in (await session.exec(select(Case))).all()}
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == SUPERVISOR, OutboxMessage.template == "case.card"
        )
        cards = sorted(m.case_number or 0 for m in (await session.exec(query)).all())
    assert cards == [first, second]
    assert cases[first].manager_id == cases[second].manager_id == SUPERVISOR
    unchanged = {c["number"]: c for c in before[0]}
    for number in (closed, elsewhere.number):
        assert cases[number].model_dump() == unchanged[number]

    # The same form sent again does nothing twice, and says so.
    after = await snapshot(browser.ctx)
    again = await _bulk(browser, [first], form_id, action="reassign", manager=SUPERVISOR)
    assert "此表单已提交过，未重复办理。" in again.text
    assert "0 件已办，0 件未办" in again.text
    assert await snapshot(browser.ctx) == after


async def test_several_cases_closed_with_a_reason(browser: Browser) -> None:
    numbers = [await case_in(browser.ctx, "assigned") for _ in range(3)]
    await browser.sign_in(STAFF)
    before = await snapshot(browser.ctx)
    # Without a note: their category's saved replies are offered first (test_bulk_close_replies)
    # and nothing is closed yet; the step sent back with neither is refused.
    missing = await _bulk(browser, numbers, action="close", reason="  ")
    assert missing.status_code == 200
    assert 'id="bulk-closing"' in missing.text
    neither = await _bulk(browser, numbers, action="close", reason="  ", template="")
    assert neither.status_code == 400
    assert "办结需要填写说明。未做任何更改。" in neither.text
    nobody = await _bulk(browser, numbers, action="reassign", manager="")
    assert "请选择新的负责人。未做任何更改。" in nobody.text
    none = await _bulk(browser, [], action="close", reason="已电话沟通")
    assert "没有勾选任何诉求，未做任何更改。" in none.text
    forged = await browser.client.post(
        "/console/cases/bulk",
        data={"action": "close", "reason": "已处理", "number": str(numbers[0])},
    )
    assert forged.status_code == 403
    assert await snapshot(browser.ctx) == before  # nothing at all changed
    closed = await _bulk(browser, numbers, action="close", reason="已电话沟通解决")
    assert "3 件已办，0 件未办" in closed.text
    for number in numbers:
        assert (await events_of(browser.ctx, number))[-1] == ("closed", "web", STAFF)
    async with browser.ctx.db.reading() as session:
        query = select(Case.status).where(col(Case.number).in_(numbers))
        assert set((await session.exec(query)).all()) == {"closed"}
    assert f"#{numbers[0]}" in closed.text
    assert 'href="/console/cases"' in closed.text


async def test_a_holder_cannot_act_on_several_and_is_told_why(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(MANAGER)
    before = await snapshot(browser.ctx)
    csrf = await browser.csrf()
    crafted = await browser.client.post(
        "/console/cases/bulk",
        data={"csrf": csrf, "action": "close", "reason": "我来关", "number": str(number)},
    )
    assert "0 件已办，1 件未办" in crafted.text
    assert "您无权对该诉求进行此操作。" in crafted.text
    assert await snapshot(browser.ctx) == before
    too_many = [str(n) for n in range(1, MAX_CASES + 20)]
    flood = await browser.client.post(
        "/console/cases/bulk",
        data={"csrf": csrf, "action": "close", "reason": "x", "number": too_many},
    )
    assert flood.status_code == 400  # more than a page of cases: refused whole
    assert await snapshot(browser.ctx) == before


@needs_chromium
async def test_three_cases_ticked_and_reassigned_in_the_browser(run: Both, chromium: Any) -> None:
    numbers = [
        await reported_by_sms(run, text)
        for text in ("快递堆在172号楼门口，过不去", "172号楼电梯又坏了", "地下车库有人乱停车")
    ]
    untouched = await reported_by_sms(run, "楼上装修噪音太吵")
    async with signed_in(chromium, await sign_in_link(run), locale="zh-CN") as page:
        problems = errors_of(page)
        await _tick_reassign_and_see_the_cards(run, page, numbers, untouched)
        assert not refused_by_csp(problems), problems


async def _tick_reassign_and_see_the_cards(
    run: Both, page: Any, numbers: list[int], untouched: int
) -> None:
    for number in numbers:
        await page.get_by_label(f"选择 #{number}", exact=True).check()
    # The list refreshes itself every 5 s: the ticks stay.
    await page.wait_for_timeout(5600)
    for number in numbers:
        assert await page.is_checked(f"#pick-{number}")
    assert not await page.is_checked(f"#pick-{untouched}")
    seen = len(run.telegram.inbox(SUPERVISOR_TELEGRAM))
    await page.select_option("#bulk select[name=manager]", SUPERVISOR)
    await page.click("#bulk-reassign")
    await page.wait_for_selector("#bulk-summary")
    summary = await page.inner_text("#bulk-summary")
    for number in numbers:
        assert f"#{number}\t✓ 已改派给 赵主管" in summary
    assert f"#{untouched}" not in summary
    assert await page.inner_text("#bulk-counts") == "3 件已办，0 件未办"
    await run.until(lambda: len(run.telegram.inbox(SUPERVISOR_TELEGRAM)) >= seen + 3)
    cards = [re.match(r"📋 新诉求 #(\d+)", m.text) for m in run.telegram.inbox(SUPERVISOR_TELEGRAM)]
    assert sorted(int(c[1]) for c in cards[seen:] if c) == sorted(numbers)
    async with run.ctx.db.reading() as session:
        query = select(OutboxMessage.case_number).where(
            OutboxMessage.person_id == SUPERVISOR, OutboxMessage.template == "case.card"
        )
        assert sorted(n or 0 for n in (await session.exec(query)).all()) == sorted(numbers)
    await page.click("#bulk-back")
    await page.wait_for_url("**/console/cases")
