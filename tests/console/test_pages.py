"""The pages as a staff member uses them: the list's filters, counts, paging and live fragment; a
case's fields (escaped), actions through the bot's use cases (channel ``web``) and notes; the CSV;
the rates (the same figures as ``stats``); the language switch."""

from __future__ import annotations

import csv
import io
import re

from sqlmodel import select

from bot.console.downloads import CSV_FIELDS
from bot.services.cases.report import NewReport, report
from bot.services.staff import listing, stats
from core.cases import Channel
from db.models import Case, OutboxMessage, Person
from tests.conftest import Clock
from tests.services.example import case_in

from .conftest import MANAGER, STAFF, Browser, events_of, outbox_count

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


async def _report(
    browser: Browser, text: str, *, category: str = "parcels", where: str = ""
) -> int:
    case = await report(
        browser.ctx,
        resident_id="r-jzsj-172",
        channel=Channel.SMS,
        new=NewReport("jzsj-south", category, text, location=where or "172号楼"),
    )
    assert case.number is not None
    return case.number


async def test_stored_text_is_shown_as_text(browser: Browser) -> None:
    number = await _report(browser, HOSTILE, where=HOSTILE)
    await browser.sign_in(STAFF)
    for path in (f"/console/cases/{number}", "/console/cases"):
        page = (await browser.client.get(path)).text
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in page


async def test_the_list_filters_counts_and_pages(browser: Browser, clock: Clock) -> None:
    parcels = await _report(browser, "快递堆在门口")
    noise = await _report(browser, "楼上装修太吵", category="noise")
    clock.advance(hours=1)  # both past their 30-minute acknowledge deadline
    fresh = await _report(browser, "电梯坏了", category="elevator")
    await browser.sign_in(STAFF)
    page = (await browser.client.get("/console/cases")).text
    rows = re.findall(r'data-number="(\d+)"', page)
    assert rows == [str(noise), str(parcels), str(fresh)]  # the overdue first, then the newest
    assert "已派单: <b>3</b>" in page
    assert "共 3 条" in page
    only = (await browser.client.get("/console/cases?category=noise")).text
    assert re.findall(r'data-number="(\d+)"', only) == [str(noise)]
    assert 'value="noise" selected' in only  # the filter is kept in the form
    late = (await browser.client.get("/console/cases?overdue=1")).text
    assert re.findall(r'data-number="(\d+)"', late) == [str(noise), str(parcels)]
    found = (await browser.client.get("/console/cases?q=电梯")).text
    assert re.findall(r'data-number="(\d+)"', found) == [str(fresh)]
    by_number = (await browser.client.get(f"/console/cases?q=%23{parcels}")).text
    assert re.findall(r'data-number="(\d+)"', by_number) == [str(parcels)]
    none = (await browser.client.get("/console/cases?status=closed")).text
    assert "没有符合条件的诉求" in none
    wild = (await browser.client.get("/console/cases?q=%25&page=abc&since=nope")).text
    assert "没有符合条件的诉求" in wild  # a % is searched for, not a wildcard


def _next_link(page: str) -> str | None:
    found = re.search(r'<a href="(/console/cases\?[^"]*)">[^<]*→</a>', page)
    return found.group(1).replace("&amp;", "&") if found else None


def _prev_link(page: str) -> str | None:
    found = re.search(r'<a href="(/console/cases\?[^"]*)">← ', page)
    return found.group(1).replace("&amp;", "&") if found else None


async def test_the_list_pages_by_fifty(browser: Browser) -> None:
    numbers = [await _report(browser, f"第{i}件") for i in range(52)]
    await browser.sign_in(STAFF)
    first = (await browser.client.get("/console/cases?category=parcels")).text
    assert len(re.findall(r'data-number="', first)) == 50
    assert "第 1 / 2 页" in first
    # The next page is found by the last row's key (phase 1: not overdue; its number).
    assert f'href="/console/cases?category=parcels&amp;page=2&amp;after=1_{numbers[2]}"' in first
    assert _prev_link(first) is None
    second = (await browser.client.get(_next_link(first) or "")).text
    assert re.findall(r'data-number="(\d+)"', second) == [str(numbers[1]), str(numbers[0])]
    assert "第 2 / 2 页" in second
    assert _next_link(second) is None
    back = (await browser.client.get(_prev_link(second) or "")).text
    assert re.findall(r'data-number="(\d+)"', back) == re.findall(r'data-number="(\d+)"', first)
    # A bare page number (a link from before paging by key) is the first page, not an error.
    old = (await browser.client.get("/console/cases?category=parcels&page=2")).text
    assert "第 1 / 2 页" in old


async def test_paging_shows_every_case_once_while_cases_come_in(
    browser: Browser, clock: Clock
) -> None:
    older = [await _report(browser, f"旧{i}") for i in range(60)]
    clock.advance(hours=1)  # these are overdue now: they come first
    newer = [await _report(browser, f"新{i}") for i in range(60)]
    await browser.sign_in(STAFF)
    for sort in ("", "&sort=due"):
        seen: list[str] = []
        link: str | None = f"/console/cases?category=parcels{sort}"
        pages = []
        while link is not None:
            page = (await browser.client.get(link)).text
            pages.append(page)
            seen += re.findall(r'data-number="(\d+)"', page)
            await _report(browser, "翻页时新来的")  # a new case between two pages
            link = _next_link(page)
        assert len(seen) == len(set(seen)), "a case shown twice"
        assert {str(n) for n in older + newer} <= set(seen), "a case skipped"
        assert len(pages) == 3
        if not sort:  # the overdue first, the newest first within each
            assert seen[:60] == [str(n) for n in reversed(older)]
            later = [n for n in seen[60:] if int(n) in newer]  # new arrivals may come among them
            assert later == [str(n) for n in reversed(newer)]
        # Back from the last page: the fifty cases just before it (new arrivals among them
        # push the oldest of them onto the page before).
        back = _prev_link(pages[-1])
        middle = re.findall(r'data-number="(\d+)"', (await browser.client.get(back or "")).text)
        assert len(middle) == 50
        assert middle[-20:] == re.findall(r'data-number="(\d+)"', pages[1])[-20:]


async def test_htmx_polls_the_list_with_its_filters(browser: Browser) -> None:
    await _report(browser, "快递堆在门口")
    await browser.sign_in(STAFF)
    page = (await browser.client.get("/console/cases?category=parcels&overdue=1")).text
    assert 'hx-get="/console/cases?category=parcels&amp;overdue=1"' in page
    assert 'hx-trigger="every 5s"' in page
    fragment = await browser.client.get(
        "/console/cases?category=parcels", headers={"HX-Request": "true"}
    )
    assert fragment.text.lstrip().startswith('<section id="case-list"')
    assert "<html" not in fragment.text


async def test_staff_reassign_from_the_console(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert 'name="manager"' in page
    assert "郑经理" not in page  # another community's manager is not offered
    done = await browser.act(number, action="reassign", manager="sup-jzsj-south")
    assert done.status_code == 303
    assert browser.kicks  # delivery was woken for the new holder's card
    events = await events_of(browser.ctx, number)
    assert events[-1] == ("reassigned", "web", STAFF)
    async with browser.ctx.db.reading() as session:
        case = await session.get(Case, number)
        query = select(OutboxMessage).where(OutboxMessage.case_number == number)
        sent = (await session.exec(query)).all()
    assert case is not None
    assert case.manager_id == "sup-jzsj-south"
    assert any(m.person_id == "sup-jzsj-south" for m in sent)
    shown = (await browser.client.get(f"/console/cases/{number}")).text
    assert "赵主管" in shown
    assert "刘博 改派给 赵主管" in shown  # the timeline tells it in words
    assert '<span class="via">经工作台</span>' in shown  # and names the channel


async def test_a_refused_action_says_why_and_changes_nothing(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    refused = await browser.act(number, action="close", reason="")
    assert refused.status_code == 409
    assert 'role="alert"' in refused.text
    assert len(await events_of(browser.ctx, number)) == 3
    nonsense = await browser.act(number, action="rate")
    assert nonsense.status_code == 400
    await browser.sign_in(MANAGER)  # the manager declined it: it is staff's now
    page = await browser.client.get(f"/console/cases/{number}")
    assert "您目前不能对此诉求进行操作" in page.text
    forced = await browser.act(number, action="acknowledge")
    assert forced.status_code == 409
    assert len(await events_of(browser.ctx, number)) == 3


async def test_duplicate_and_close(browser: Browser) -> None:
    first = await case_in(browser.ctx, "unassigned")
    second = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    # The old form (reject with the original's number) still works: it is a merge now.
    done = await browser.act(second, action="reject", duplicate_of=f"#{first}")
    assert done.status_code == 303
    assert (await events_of(browser.ctx, second))[-1] == ("merged", "web", STAFF)
    shown = (await browser.client.get(f"/console/cases/{second}")).text
    assert f'href="/console/cases/{first}">#{first}</a>' in shown
    assert 'id="unmerge"' in shown
    original = (await browser.client.get(f"/console/cases/{first}")).text
    assert f'<dd id="merged-from"><a href="/console/cases/{second}">#{second}</a></dd>' in original
    bad = await browser.act(first, action="reject", duplicate_of="#x1")
    assert bad.status_code == 400  # not a number: nothing is done
    closed = await browser.act(first, action="close", reason="已电话沟通解决")
    assert closed.status_code == 303
    assert (await events_of(browser.ctx, first))[-1] == ("closed", "web", STAFF)


async def test_a_form_sent_twice_acts_once(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(MANAGER)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    form = re.search(r'name="form" value="([^"]+)"', page)
    assert csrf
    assert form
    fields = {"csrf": csrf.group(1), "form": form.group(1), "action": "acknowledge"}
    for _ in range(2):
        answer = await browser.client.post(f"/console/cases/{number}/act", data=fields)
        assert answer.status_code == 303
    kinds = [k for k, _, _ in await events_of(browser.ctx, number)]
    assert kinds.count("acknowledged") == 1
    other = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    csrf = re.search(r'name="csrf" value="([^"]+)"', await _text(browser, other))
    assert csrf
    for manager in ("sup-jzsj-south", "mgr-jzsj-south"):  # no form id: each acts
        fields = {"csrf": csrf.group(1), "action": "reassign", "manager": manager}
        answer = await browser.client.post(f"/console/cases/{other}/act", data=fields)
        assert answer.status_code == 303
    kinds = [k for k, _, _ in await events_of(browser.ctx, other)]
    assert kinds.count("reassigned") == 2


async def _text(browser: Browser, number: int) -> str:
    return (await browser.client.get(f"/console/cases/{number}")).text


async def test_an_internal_note_reaches_no_resident(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(STAFF)
    before = await outbox_count(browser.ctx)
    csrf = await browser.csrf(f"/console/cases/{number}")
    done = await browser.client.post(
        f"/console/cases/{number}/note", data={"csrf": csrf, "note": f"已电话联系物业 {HOSTILE}"}
    )
    assert done.status_code == 303
    assert (await events_of(browser.ctx, number))[-1] == ("note", "web", STAFF)
    assert await outbox_count(browser.ctx) == before  # nobody is told
    shown = (await browser.client.get(f"/console/cases/{number}")).text
    assert "已电话联系物业 &lt;script&gt;" in shown
    empty = await browser.client.post(
        f"/console/cases/{number}/note", data={"csrf": csrf, "note": "  \u200b "}
    )
    assert empty.status_code == 409


async def test_the_csv_has_a_bom_and_the_case_fields(browser: Browser) -> None:
    number = await _report(browser, '快递堆在门口, "很多"\n第二行')
    await _report(browser, "=HYPERLINK(1)", category="noise")
    await browser.sign_in(STAFF)
    answer = await browser.client.get("/console/cases.csv?category=parcels")
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["number"] for r in rows] == [str(number)]
    row = rows[0]
    assert row["description"] == '快递堆在门口, "很多"\n第二行'
    assert row["community_name"] == "嘉州水郡南区社区"
    assert row["category_name"] == "快递堆放占道"
    assert row["status"] == "assigned"
    assert row["manager"] == "mgr-jzsj-south"
    assert row["created_at"].endswith("+08:00")
    assert {
        "number",
        "status",
        "community",
        "category",
        "location",
        "description",
        "channel",
        "manager",
        "escalation_level",
        "reopen_count",
        "rating",
        "created_at",
        "acknowledged_at",
        "resolved_at",
        "closed_at",
    } <= set(row)
    formula = await browser.client.get("/console/cases.csv?category=noise")
    assert "'=HYPERLINK(1)" in formula.content.decode("utf-8-sig")  # never run as a formula


async def test_the_rates_are_the_figures_of_stats(browser: Browser, clock: Clock) -> None:
    for status in ("closed", "assigned", "acknowledged", "resolved"):
        await case_in(browser.ctx, status)
    clock.advance(hours=2)
    await browser.sign_in(STAFF)
    day = clock.now.date().isoformat()
    page = (await browser.client.get(f"/console/rates?since={day}&until={day}")).text
    period = stats.Period(clock.now.date(), clock.now.date())
    expected = await stats.rates(browser.ctx, period=period, by="community")
    mine = expected["jzsj-south"].as_dict()

    def pct(value: object) -> str:
        return "—" if value is None else f"{float(value) * 100:.0f}%"  # type: ignore[arg-type]

    chosen = page[page.index('id="web-chosen_range"') :]
    row = (
        f'<tr data-key="jzsj-south"><td>嘉州水郡南区社区</td><td>{mine["cases"]}</td>'
        f"<td>{pct(mine['response_rate'])}</td><td>{pct(mine['resolution_rate'])}</td>"
        f"<td>{pct(mine['satisfaction_rate'])}</td></tr>"
    )
    assert row in chosen
    assert mine["cases"] == 4
    held = await stats.rates(browser.ctx, period=period, by="manager", communities=["jzsj-south"])
    wang = held["mgr-jzsj-south"].as_dict()
    holder = (
        f'<tr data-key="mgr-jzsj-south"><td>王经理</td><td>{wang["cases"]}</td>'
        f"<td>{pct(wang['response_rate'])}</td><td>{pct(wang['resolution_rate'])}</td>"
        f"<td>{pct(wang['satisfaction_rate'])}</td></tr>"
    )
    assert holder in chosen
    assert 'data-key="bgy-north"' not in page  # not this reader's community
    assert page.count("<svg") == 3
    assert "<text" in page  # the labels are text, drawn by the reader's fonts


async def test_the_language_switch(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert "处理记录" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    back = await browser.client.post(
        "/console/language",
        data={"csrf": csrf.group(1), "language": "en", "next": f"/console/cases/{number}"},
    )
    assert back.status_code == 303
    assert back.headers["location"] == f"/console/cases/{number}"
    english = (await browser.client.get(f"/console/cases/{number}")).text
    assert "Timeline" in english
    assert "Parcels blocking the way" in english
    listed = (await browser.client.get("/console/cases")).text
    assert "Parcels blocking the way" in listed
    assert "快递堆放占道" not in listed
    away = await browser.client.post(
        "/console/language",
        data={"csrf": csrf.group(1), "language": "zh", "next": "https://evil.example/"},
    )
    assert away.headers["location"] == "/console/cases"  # never sent elsewhere


async def test_what_was_sent_reads_as_words(browser: Browser) -> None:
    number = await _report(browser, "快递堆在门口")
    await browser.sign_in(STAFF)
    shown = (await browser.client.get(f"/console/cases/{number}")).text
    # The manager's card by its first line and where it stands, not a template key or a code.
    assert f'<q class="excerpt">📋 新诉求 #{number}</q>' in shown
    assert f"已收到您的诉求 #{number}（快递堆放占道" in shown
    assert "待发送" in shown
    assert ">case.card<" not in shown
    assert ">pending<" not in shown


async def test_the_streamed_csv_is_the_csv_written_at_once(browser: Browser) -> None:
    for i in range(5):
        await _report(browser, f'第{i}件, "引号"\n换行')
    await _report(browser, "=1+1", category="noise")
    await browser.sign_in(STAFF)
    answer = await browser.client.get("/console/cases.csv?status=all")
    viewer = await _viewer(browser, STAFF)
    rows = [
        r
        async for b in listing.export(browser.ctx, viewer, listing.Filters(status="all"))
        for r in b
    ]
    out = io.StringIO()  # how the CSV was written before it was streamed: all of it at once
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    expected = out.getvalue().replace("=1+1", "'=1+1")
    assert len(rows) == 6
    assert answer.content.decode("utf-8") == expected
    empty = await browser.client.get("/console/cases.csv?status=closed")
    assert empty.content.decode("utf-8") == "\ufeff" + ",".join(CSV_FIELDS) + "\r\n"


async def _viewer(browser: Browser, person_id: str) -> listing.Viewer:
    async with browser.ctx.db.reading() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        return await listing.viewer_of(session, person)
