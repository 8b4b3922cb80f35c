"""One problem, one case (issue 23), from the staff's side: a duplicate that slipped through is
merged into the case that carries the problem on — by Telegram (reject → "#A") or the console —
its reporter is told in words and hears the original's steps, it counts in no rate, and the merge
is undone while the original is open. A merge that may not be changes nothing and says why."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.e2e.neighbours import (
    BGY_NUMBER,
    CARD,
    HE,
    LI,
    MANAGER,
    NEIGHBOUR,
    SOUTH_NUMBER,
    STAFF,
    Street,
    cards,
    forms,
    press_form,
    street,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

CARTONS = "172号楼门口纸箱垃圾堆成山了"  # the same problem, filed under sanitation by its words
OTHER_NEIGHBOUR = "+8613900000032"


async def staff_rejects(run: Street, number: int, answer: str) -> int:
    """刘博 looks case ``number`` up, presses "不予受理" and answers ``answer``; how many
    messages his chat had before the answer."""
    chat, tg = run.chat, run.telegram
    shown = await chat.say(STAFF, f"/case {number}")
    why = await chat.press(STAFF, shown, f"reject:{number}")
    assert why.text.startswith(f"请回复诉求 #{number} 不予受理的原因")
    seen = len(tg.inbox(STAFF))
    await tg.user_says(STAFF, answer)
    return seen


async def sms_report(run: Street, phone: str, to: str, text: str) -> int:
    """A text that is a new report (nothing open like it); the new case's number."""
    reply = await run.text(phone, to, text)
    found = re.search(r"#(\d+)", reply.messages[0]) if reply.messages else None
    assert found is not None, reply.messages
    return int(found.group(1))


async def test_staff_merge_a_duplicate_its_reporter_hears_the_original_and_undo_restores_it(
    backend: str, tmp_path: Path
) -> None:
    async with street(backend, tmp_path) as run:
        chat, tg = run.chat, run.telegram
        first = await run.first_report()
        second = await sms_report(run, NEIGHBOUR, SOUTH_NUMBER, CARTONS)
        assert (await chat.case(second)).category_id == "sanitation"
        await chat.until(lambda: cards(run) == 2)
        assert (await run.stats())["cases"] == 2

        # 刘博 rejects #2 as the same problem as #1: a merge.
        manager_seen = len(tg.inbox(MANAGER))
        await staff_rejects(run, second, f"#{first}")
        await run.sms_until(NEIGHBOUR, f"诉求 #{second} 与 #{first} 是同一问题")
        merged = run.sms_to(NEIGHBOUR, f"诉求 #{second} 与 #{first} 是同一问题")
        assert merged == [
            f"诉求 #{second} 与 #{first} 是同一问题，已合并到 #{first} 继续办理，进展会通知您。"
        ]
        await chat.until(lambda: len(tg.inbox(MANAGER)) >= manager_seen + 2)
        told = [m.text for m in tg.inbox(MANAGER)[manager_seen:]]
        assert f"诉求 #{second} 已并入同一问题的 #{first}，现涉及 2 位居民。" in told
        assert any(t.startswith(f"诉求 #{second} 已不再由您负责") for t in told), told
        b = await chat.case(second)
        assert (b.status, b.duplicate_of) == ("rejected", first)
        assert (await chat.case(first)).followers == 1
        assert [(c, via) for _, c, via in await run.followers(first)] == [("sms", second)]
        assert (await run.stats())["cases"] == 1  # the duplicate counts in nothing
        assert (await chat.events(second))[-1] == "merged"
        assert (await chat.events(first))[-1] == "merged_in"

        # Undone from the console: #2 is handled on its own again, as it was.
        async with run.console("liubo") as browser:
            page = await press_form(browser, f"/console/cases/{second}", "撤销合并")
            assert page.status_code == 200, page.text[:500]
        await run.sms_until(NEIGHBOUR, f"诉求 #{second} 已恢复单独办理")
        assert run.sms_to(NEIGHBOUR, f"诉求 #{second} 已恢复单独办理") == [
            f"诉求 #{second} 已恢复单独办理（当前状态：已派单）。"
        ]
        b = await chat.case(second)
        assert (b.status, b.duplicate_of, b.manager_id) == ("assigned", None, "mgr-jzsj-south")
        assert await run.followers(first) == []
        assert (await chat.case(first)).followers == 0
        assert (await run.stats())["cases"] == 2
        # its manager holds it again, on a fresh card with its buttons
        await chat.until(
            lambda: any(
                m.text.startswith(f"{CARD} #{second}") and f"ack:{second}" in m.button_data()
                for m in tg.inbox(MANAGER)[manager_seen:]
            )
        )

        # Merged again, this time from the console's form on #2's page.
        async with run.console("liubo") as browser:
            page = await press_form(browser, f"/console/cases/{second}", "合并到", into=str(first))
            assert page.status_code == 200, page.text[:500]
        await chat.until(lambda: len(run.sms_to(NEIGHBOUR, "是同一问题")) == 2)
        assert (await chat.case(second)).duplicate_of == first

        # #1 moves on: #2's reporter hears its steps, on SMS.
        card = next(m for m in tg.inbox(MANAGER) if m.text.startswith(f"{CARD} #{first}"))
        await tg.user_presses(MANAGER, card, f"ack:{first}")
        await run.sms_until(NEIGHBOUR, f"您关注的诉求 #{first} 已有负责人接单")
        await tg.user_presses(MANAGER, card, f"done:{first}")
        await run.sms_until(NEIGHBOUR, f"负责人表示您关注的诉求 #{first} 已办好")
        await chat.until(lambda: any(f"rate:{first}:1" in m.button_data() for m in tg.inbox(LI)))
        rating = next(m for m in tg.inbox(LI) if f"rate:{first}:1" in m.button_data())
        await chat.press(LI, rating, f"rate:{first}:1")
        await run.sms_until(NEIGHBOUR, f"您关注的诉求 #{first} 已办结")
        assert len(run.sms_to(NEIGHBOUR, f"您关注的诉求 #{first} 已办结")) == 1

        # With #1 closed, the merge stands: undoing it is refused, and says why.
        before = await run.state()
        async with run.console("liubo") as browser:
            page = await browser.get(f"/console/cases/{second}")
            fields = forms(page.text)[-1][1]  # any form carries the page's proof
            refused = await browser.post(f"/console/cases/{second}/unmerge", data=fields)
        assert refused.status_code == 409
        assert f"诉求 #{first} 已结束，不能再撤销合并。" in refused.text
        assert await run.state() == before
        assert (await run.stats())["cases"] == 1


async def test_a_merge_that_may_not_be_changes_nothing_and_says_why(
    backend: str, tmp_path: Path
) -> None:
    async with street(backend, tmp_path) as run:
        chat = run.chat
        open_ = await run.first_report()
        closed = await sms_report(run, NEIGHBOUR, SOUTH_NUMBER, CARTONS)
        shown = await chat.say(STAFF, f"/case {closed}")
        await chat.press(STAFF, shown, f"close:{closed}")
        await run.telegram.user_says(STAFF, "已由保洁清走")
        await chat.eventually(lambda: _status(run, closed, "closed"))
        duplicate = await sms_report(
            run, OTHER_NEIGHBOUR, SOUTH_NUMBER, "173号楼门口纸箱垃圾没人收"
        )
        elsewhere = await sms_report(run, HE, BGY_NUMBER, "72号楼后侧建筑垃圾存放处清理不及时")
        before = await run.state()
        texts = len(run.twilio.inbox(OTHER_NEIGHBOUR))

        for into, why in (
            (duplicate, f"不能把诉求 #{duplicate} 合并到它自己。"),
            (closed, f"诉求 #{closed} 已结束，不能再并入诉求。"),
            (elsewhere, f"诉求 #{elsewhere} 属于其他社区，不能合并。"),
        ):
            seen = await staff_rejects(run, duplicate, f"#{into}")
            assert (await chat.next_message(STAFF, seen)).text == why, into
            assert await run.state() == before, into

        # The console says the same, and changes nothing either.
        async with run.console("liubo") as browser:
            page = await press_form(
                browser, f"/console/cases/{duplicate}", "合并到", into=str(closed)
            )
        assert page.status_code == 409
        assert f"诉求 #{closed} 已结束，不能再并入诉求。" in page.text
        assert await run.state() == before
        assert len(run.twilio.inbox(OTHER_NEIGHBOUR)) == texts  # its reporter heard nothing
        assert (await chat.case(duplicate)).status == "assigned"
        assert (await chat.case(open_)).followers == 0


async def _status(run: Street, number: int, status: str) -> bool:
    return (await run.chat.case(number)).status == status
