"""One problem, one case in the console (docs/reference.md §4, §9): the list and the case page show
who follows a case and by which channel; staff merge a duplicate into its original ("合并到…" or
one click on a likely duplicate) and undo it, with channel ``web``; a refused merge says why and
changes nothing; a manager gets no merge controls and a forged merge of theirs is refused."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import httpx
from sqlmodel import col, select

from bot.services.cases.following import follow_in
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.work import unit_of_work
from core.cases import Action, Channel, Rating
from core.texts import render
from db import queries
from db.models import Case, CaseFollower, Identity, Person
from tests.conftest import Clock
from tests.services.example import ACTORS, case_in, snapshot

from .conftest import MANAGER, OTHER_STAFF, STAFF, Browser, events_of

NEIGHBOUR = Actor("r-yunwan-en", Channel.TELEGRAM)  # Anna Müller, by Telegram
TEXTER = "sms-+8613700000009"  # met by SMS: her name is her phone number
TEXTER_PHONE = "+8613700000009"
FOLLOWERS = 8  # the list's column: #, age, status, category, place, holder, deadline, level


class Forms(HTMLParser):
    """The forms of a page: each one's action, its fields and the text of its buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": found.get("action", ""), "fields": {}, "buttons": ""})
            self.forms[-1]["id"] = found.get("id", "")
        elif tag == "input" and self.forms and found.get("name"):
            fields = self.forms[-1]["fields"]
            assert isinstance(fields, dict)
            fields[found["name"]] = found.get("value", "")
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button and self.forms:
            self.forms[-1]["buttons"] = str(self.forms[-1]["buttons"]) + data


async def press(browser: Browser, number: int, label: str, **typed: str) -> httpx.Response:
    """On case ``number``'s page, fill in ``typed`` and press the button that says ``label``."""
    page = (await browser.client.get(f"/console/cases/{number}")).text
    parser = Forms()
    parser.feed(page)
    chosen = [f for f in parser.forms if str(f["buttons"]).strip() == label]
    assert len(chosen) == 1, [f["buttons"] for f in parser.forms]
    fields = chosen[0]["fields"]
    assert isinstance(fields, dict)
    return await browser.client.post(str(chosen[0]["action"]), data={**fields, **typed})


async def new_case(
    ctx: ServiceContext, who: str = "r-jzsj-172", *, where: str = "172号楼门口", **other: str
) -> int:
    new = NewReport(
        other.get("community", "jzsj-south"),
        other.get("category", "parcels"),
        "快递堆在马路上",
        location=where,
    )
    case = await report(ctx, resident_id=who, channel=Channel.TELEGRAM, new=new)
    assert case.number is not None
    return case.number


async def texter(ctx: ServiceContext, clock: Clock) -> None:
    """A resident first met by SMS, as the SMS channel leaves her: named by her phone."""
    async with ctx.db.transaction() as session:
        session.add(Person(id=TEXTER, name=TEXTER_PHONE, role="resident", source="sms"))
        session.add(
            Identity(
                person_id=TEXTER,
                channel="sms",
                address=TEXTER_PHONE,
                source="sms",
                updated_at=clock.now,
            )
        )


async def follow(ctx: ServiceContext, person_id: str, number: int, channel: str) -> None:
    async with unit_of_work(ctx) as unit:
        person = await queries.get_person(session=unit.session, person_id=person_id)
        assert person is not None
        await follow_in(unit, person=person, number=number, channel=channel)


async def row(ctx: ServiceContext, number: int) -> Case:
    async with ctx.db.reading() as session:
        found = await queries.get_case(session=session, number=number)
    assert found is not None
    return found


async def followers(ctx: ServiceContext, number: int) -> list[tuple[str, int | None]]:
    async with ctx.db.reading() as session:
        query = select(CaseFollower).where(CaseFollower.case_number == number)
        rows = (await session.exec(query.order_by(col(CaseFollower.id)))).all()
    return [(r.person_id, r.via_case) for r in rows]


def cells(page: str, number: int) -> list[str]:
    """The cells of case ``number``'s row in the list."""
    found = re.search(rf'<tr[^>]*data-number="{number}">(.*?)</tr>', page, re.S)
    assert found, page[:300]
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    ]


async def test_the_list_and_the_csv_count_followers(browser: Browser, clock: Clock) -> None:
    followed = await new_case(browser.ctx)
    alone = await new_case(browser.ctx, where="173号楼")
    await texter(browser.ctx, clock)
    await follow(browser.ctx, NEIGHBOUR.person_id or "", followed, "telegram")
    await follow(browser.ctx, TEXTER, followed, "sms")
    await browser.sign_in(STAFF)
    page = (await browser.client.get("/console/cases")).text
    assert "<th>关注</th>" in page
    assert cells(page, followed)[FOLLOWERS] == "2"
    assert 'title="2 人关注"' in page
    assert cells(page, alone)[FOLLOWERS] == ""  # nobody follows it: nothing to read
    answer = await browser.client.get("/console/cases.csv?category=parcels")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert {r["number"]: r["followers"] for r in rows} == {str(followed): "2", str(alone): "0"}


async def test_the_case_page_shows_who_follows_by_which_channel(
    browser: Browser, clock: Clock
) -> None:
    number = await new_case(browser.ctx)
    await texter(browser.ctx, clock)
    await follow(browser.ctx, NEIGHBOUR.person_id or "", number, "telegram")
    await follow(browser.ctx, TEXTER, number, "sms")
    for step in (Action.ACKNOWLEDGE, Action.RESOLVE):
        await act(browser.ctx, number=number, actor=ACTORS["manager"], request=Request(step))
    rated = Request(Action.RATE, rating=Rating.BASICALLY_SATISFIED)
    await act(browser.ctx, number=number, actor=NEIGHBOUR, request=rated)
    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert '<dd id="case-followers">2 人关注</dd>' in page
    assert "关注的居民（2 人）" in page
    table = page[
        page.index('<table class="followers">') : page.index(
            "</table>", page.index('<table class="followers">')
        )
    ]
    assert "<td>Anna Müller</td><td>Telegram</td>" in table
    assert "<td>137****0009</td><td>短信</td>" in table  # her phone, masked
    assert TEXTER_PHONE not in table
    assert "<td>基本满意</td>" in table  # Anna's feedback
    assert table.count("自行关注") == 2
    timeline = page[page.index('<ol class="timeline"') :]
    assert "Anna Müller 关注了此诉求" in timeline
    assert "137****0009 关注了此诉求" in timeline  # named as the list names her
    assert "Anna Müller（关注者）评价：基本满意" in timeline
    assert TEXTER_PHONE not in page
    await browser.sign_in(MANAGER)  # the holder sees the crowd too
    held = (await browser.client.get(f"/console/cases/{number}")).text
    assert "关注的居民（2 人）" in held


async def test_merge_from_the_console_and_undo_it(browser: Browser) -> None:
    original = await new_case(browser.ctx)
    duplicate = await new_case(browser.ctx, NEIGHBOUR.person_id or "")
    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{duplicate}")).text
    assert "标记为重复" not in page
    done = await press(browser, duplicate, "合并", into=f"#{original}")
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/cases/{duplicate}"
    assert browser.kicks  # its people are told now
    merged = await row(browser.ctx, duplicate)
    assert (merged.status, merged.duplicate_of) == ("rejected", original)
    assert await followers(browser.ctx, original) == [(NEIGHBOUR.person_id, duplicate)]
    assert (await events_of(browser.ctx, duplicate))[-1] == ("merged", "web", STAFF)
    shown = (await browser.client.get(f"/console/cases/{duplicate}")).text
    assert f'已并入 <a href="/console/cases/{original}">#{original}</a>' in shown
    assert 'id="unmerge"' in shown
    assert 'id="merge"' not in shown  # it is closed: nothing more to merge
    carrying = (await browser.client.get(f"/console/cases/{original}")).text
    assert (
        f'<dd id="merged-from"><a href="/console/cases/{duplicate}">#{duplicate}</a></dd>'
        in carrying
    )
    assert f"由 #{duplicate} 合并而来" in carrying  # Anna follows it, brought by the merge
    assert f'刘博 将 <a href="/console/cases/{duplicate}">#{duplicate}</a> 并入本诉求' in carrying

    undone = await press(browser, duplicate, "撤销合并")
    assert undone.status_code == 303
    back = await row(browser.ctx, duplicate)
    assert (back.status, back.duplicate_of) == ("assigned", None)
    assert await followers(browser.ctx, original) == []
    assert (await row(browser.ctx, original)).followers == 0
    assert (await events_of(browser.ctx, duplicate))[-1] == ("unmerged", "web", STAFF)
    again = (await browser.client.get(f"/console/cases/{original}")).text
    assert 'id="merged-from"' not in again
    assert 'id="merge"' in (await browser.client.get(f"/console/cases/{duplicate}")).text


async def test_refused_merges_say_why_and_change_nothing(browser: Browser) -> None:
    ctx = browser.ctx
    duplicate = await new_case(ctx)
    elsewhere = await new_case(ctx, "r-bgy-72", where="72号楼", community="bgy-north")
    closed = await case_in(ctx, "closed")
    await browser.sign_in(STAFF)
    before = await snapshot(ctx)
    refusals = {
        str(duplicate): render("zh", "refused.merge_self", number=duplicate),
        str(elsewhere): render("zh", "refused.merge_other_community", original=elsewhere),
        str(closed): render("zh", "refused.merge_into_closed", original=closed),
        "99999": render("zh", "refused.unknown_original", original=99999),
    }
    for into, reason in refusals.items():
        refused = await press(browser, duplicate, "合并", into=into)
        assert refused.status_code == 409, into
        assert f'<p class="refusal" role="alert">{reason}</p>' in refused.text
        assert 'id="merge"' in refused.text  # the page, to try again
    nonsense = await press(browser, duplicate, "合并", into="十二")
    assert nonsense.status_code == 400
    assert await snapshot(ctx) == before
    assert (await row(ctx, duplicate)).status == "assigned"


async def test_a_manager_has_no_merge_and_a_forged_one_is_refused(browser: Browser) -> None:
    ctx = browser.ctx
    original = await new_case(ctx)
    duplicate = await new_case(ctx, NEIGHBOUR.person_id or "")
    merged = await new_case(ctx, where="172号楼 东门")
    await browser.sign_in(STAFF)
    assert (await press(browser, merged, "合并", into=str(original))).status_code == 303
    await browser.sign_in(MANAGER)  # holds all three
    page = (await browser.client.get(f"/console/cases/{duplicate}")).text
    assert 'id="merge"' not in page
    assert "合并到本案" not in page
    assert "将本案并入" not in page
    assert 'id="unmerge"' not in (await browser.client.get(f"/console/cases/{merged}")).text
    before = await snapshot(ctx)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    forged = await browser.client.post(
        f"/console/cases/{duplicate}/merge", data={"csrf": csrf[1], "into": str(original)}
    )
    assert forged.status_code == 409
    assert render("zh", "refused.not_entitled") in forged.text
    undo = await browser.client.post(f"/console/cases/{merged}/unmerge", data={"csrf": csrf[1]})
    assert undo.status_code == 409
    assert render("zh", "refused.not_entitled") in undo.text
    unsigned = await browser.client.post(
        f"/console/cases/{duplicate}/merge", data={"into": str(original)}
    )
    assert unsigned.status_code == 403  # without the CSRF token
    await browser.sign_in(OTHER_STAFF)  # another community's staff: no such case for them
    token = await browser.csrf()
    hidden = await browser.client.post(
        f"/console/cases/{duplicate}/merge", data={"csrf": token, "into": str(original)}
    )
    assert hidden.status_code == 404
    assert await snapshot(ctx) == before


async def test_likely_duplicates_and_one_click_merge(browser: Browser, clock: Clock) -> None:
    ctx = browser.ctx
    older = await new_case(ctx)  # 172
    other_building = await new_case(ctx, where="173号楼")
    other_category = await new_case(ctx, category="noise")
    clock.advance(hours=2)
    newer = await new_case(ctx, NEIGHBOUR.person_id or "", where="172号楼 北门")
    await browser.sign_in(STAFF)
    page = (await browser.client.get(f"/console/cases/{newer}")).text
    listed = [int(n) for n in re.findall(r'data-likely="(\d+)"', page)]
    assert listed == [older]
    assert other_building not in listed
    assert other_category not in listed
    assert f"将本案并入 #{older}" in page  # the newer goes into the older
    assert f"#{older} · 172号楼门口 · 已派单 · 2 小时前 · 1 人关注" in page
    at_older = (await browser.client.get(f"/console/cases/{older}")).text
    assert [int(n) for n in re.findall(r'data-likely="(\d+)"', at_older)] == [newer]
    done = await press(browser, older, f"将 #{newer} 合并到本案")
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/cases/{older}"  # back where the click was
    merged = await row(ctx, newer)
    assert (merged.status, merged.duplicate_of) == ("rejected", older)
    after = (await browser.client.get(f"/console/cases/{older}")).text
    assert 'data-likely="' not in after
    assert f'<a href="/console/cases/{newer}">#{newer}</a>' in after
    assert "1 人关注" in after
    await browser.sign_in(MANAGER)  # a manager is offered no merge
    assert (
        'data-likely="' not in (await browser.client.get(f"/console/cases/{other_building}")).text
    )


async def test_no_likely_duplicates_for_a_closed_case_or_past_the_window(
    browser: Browser, clock: Clock
) -> None:
    ctx = browser.ctx
    old = await new_case(ctx)
    clock.advance(days=4)  # past the default follow window of 3 days
    fresh = await new_case(ctx)
    closed = await case_in(ctx, "closed")
    await browser.sign_in(STAFF)
    assert 'data-likely="' not in (await browser.client.get(f"/console/cases/{fresh}")).text
    assert 'data-likely="' not in (await browser.client.get(f"/console/cases/{closed}")).text
    assert (await row(ctx, old)).status == "assigned"  # still open, but reported too long ago
