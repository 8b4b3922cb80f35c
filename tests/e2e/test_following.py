"""One problem, one case (issue 23), from the residents' side: a neighbour about to report what is
already an open case is offered it — on Telegram at the place step, by SMS as a numbered question —
and follows it instead; followers hear every step once, in their own language, and the manager
holds one card. Another problem, another building, another category or an old case: a new case."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from core.texts import render
from tests.conftest import BACKENDS
from tests.e2e.conftest import data_of, labels
from tests.e2e.neighbours import (
    CARD,
    LI,
    MANAGER,
    NEIGHBOUR,
    NEW_PROBLEM,
    NOISE,
    NOISE_WINDOW,
    PARCELS,
    SOUTH_NUMBER,
    TOM,
    WHERE,
    ZHOU,
    Street,
    cards,
    offered,
    street,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def follow_label(language: str, number: int, status: str, concerns: int) -> re.Pattern[str]:
    """The button (or SMS line) offering case ``number``: ``#1 · 172号楼门口 · 已派单 · 1 分钟前
    · 2 人关注`` — its age in minutes, as the test runs in well under an hour."""
    ago = re.escape(render(language, "ago.minutes", count=999)).replace("999", r"\d+")
    label = render(
        language,
        "follow.choice",
        number=number,
        place=WHERE,
        status=render(language, f"status.{status}"),
        ago="AGO",
        concerns=concerns,
    )
    return re.compile(re.escape(label).replace("AGO", ago))


def told(run: Street, user: int, text: str) -> int:
    """How many messages in ``user``'s chat read ``text`` (from the start)."""
    return sum(m.text.startswith(text) for m in run.telegram.inbox(user))


async def test_two_neighbours_follow_the_first_report_and_hear_it_through(
    backend: str, tmp_path: Path
) -> None:
    async with street(backend, tmp_path) as run:
        chat, tg = run.chat, run.telegram
        # 李大爷 reports first: nothing open to offer him.
        first = await run.first_report()
        card = await chat.next_message(MANAGER, 0)
        assert card.text.startswith(f"{CARD} #{first}")

        # Tom (English) is about to report the same: at the place step he is offered #1.
        offer = await run.to_place(TOM, PARCELS["en"], "172")
        assert offer.text == render("en", "follow.ask")
        assert len(offered(offer)) == 1, labels(offer)
        assert follow_label("en", first, "assigned", 1).fullmatch(offered(offer)[0])
        assert NEW_PROBLEM["en"] in labels(offer)
        await tg.user_presses(TOM, offer, data_of(offer, offered(offer)[0]))
        following = render("en", "case.f_following", number=first, category="-", location="-")
        await chat.until(lambda: told(run, TOM, following.split("(")[0]) == 1)
        assert len(await run.cases()) == 1  # no new case
        # He may add a note for the manager: it joins the case and reaches the manager.
        await chat.until(lambda: told(run, TOM, render("en", "follow.add_note")) == 1)
        manager_seen = len(tg.inbox(MANAGER))
        await tg.user_says(TOM, "The carts block the fire lane too")
        added = render("en", "case.f_comment_added", number=first)
        await chat.until(lambda: told(run, TOM, added) == 1)
        note = await chat.next_message(MANAGER, manager_seen)
        assert note.text == render(
            "zh", "case.commented", number=first, note="The carts block the fire lane too"
        )
        assert len(await run.cases()) == 1  # the note is no report either
        assert f"#{first}" in (await chat.say(TOM, "/mycases")).text  # his cases list it

        # A neighbour texts the community's number: asked by number, "1" follows #1.
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "172号楼门口快递堆满了")
        asked = "\n".join(reply.messages)
        line = follow_label("zh", first, "assigned", 2).pattern
        choice = render("zh", "follow.numbered_choice", index=1, label="LABEL")
        assert re.search(re.escape(choice).replace("LABEL", line), asked), asked
        assert "回复 2 新建诉求" in asked, asked
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "1")
        assert any(m.startswith(f"您已关注诉求 #{first}") for m in reply.messages), reply.messages
        assert [c.number for c in await run.cases()] == [first]
        status = await run.text(NEIGHBOUR, SOUTH_NUMBER, "查询")
        assert any(f"#{first}" in m for m in status.messages), status.messages
        case = await chat.case(first)
        assert case.followers == 2
        follows = {person: channel for person, channel, _ in await run.followers(first)}
        assert follows["r-jzsj-172-tom"] == "telegram"
        assert sorted(follows.values()) == ["sms", "telegram"]
        # The manager acknowledges and resolves; both followers hear each step. The manager's
        # one card, as it moves on, counts everyone the problem concerns.
        await tg.user_presses(MANAGER, card, f"ack:{first}")
        await chat.until(lambda: "涉及居民：3 人" in card.text)
        acknowledged = render("en", "case.f_acknowledged", number=first)
        await chat.until(lambda: told(run, TOM, acknowledged) == 1)
        await run.sms_until(NEIGHBOUR, f"您关注的诉求 #{first} 已有负责人接单")
        await tg.user_presses(MANAGER, card, f"done:{first}")
        fixed = render("en", "case.f_resolved", number=first)
        await chat.until(lambda: told(run, TOM, fixed) == 1)
        await run.sms_until(NEIGHBOUR, f"负责人表示您关注的诉求 #{first} 已办好")
        resolved = next(m for m in tg.inbox(TOM) if m.text.startswith(fixed))
        # A follower's rating is feedback: told to the manager, the case waits for its reporter.
        manager_seen = len(tg.inbox(MANAGER))
        thanks = await chat.press_label(TOM, resolved, render("en", "button.rate.2"))
        assert thanks.text.startswith(f"Thank you for rating #{first}")
        feedback = await chat.next_message(MANAGER, manager_seen)
        assert feedback.text.startswith(f"关注诉求 #{first} 的居民评价：基本满意")
        assert (await chat.case(first)).status == "resolved"

        # The reporter rates: the case closes and both followers hear it.
        await chat.until(lambda: any(f"rate:{first}:1" in m.button_data() for m in tg.inbox(LI)))
        rating = next(m for m in tg.inbox(LI) if f"rate:{first}:1" in m.button_data())
        closed = await chat.press(LI, rating, f"rate:{first}:1")
        assert closed.text == f"诉求 #{first} 已办结，感谢您的评价（满意）。"
        await chat.until(lambda: told(run, TOM, render("en", "case.f_closed", number=first)) == 1)
        await run.sms_until(NEIGHBOUR, f"您关注的诉求 #{first} 已办结")

        # Nothing more comes: each step was heard once, and the manager got one card.
        await chat.nothing_more(TOM)
        await run.settled()  # the SMS of any step told twice would have gone out by now
        for step in (acknowledged, fixed, render("en", "case.f_closed", number=first)):
            assert told(run, TOM, step) == 1, step
        for step in ("已有负责人接单", "已办好", "已办结"):
            assert len(run.sms_to(NEIGHBOUR, f"您关注的诉求 #{first} {step}")) == 1, step
        assert cards(run) == 1
        case = await chat.case(first)
        assert (case.status, case.rating, case.followers) == ("closed", "satisfied", 2)
        events = await chat.events(first)
        assert events.count("followed") == 2
        assert "commented" in events
        assert "feedback" in events
        assert len(await run.cases()) == 1


async def test_a_neighbour_with_another_problem_gets_a_new_case(
    backend: str, tmp_path: Path
) -> None:
    async with street(backend, tmp_path) as run:
        chat = run.chat
        first = await run.first_report()
        # 周阿姨 reports parcels at 172 too, but hers is another problem: "不是，这是新问题".
        offer = await run.to_place(ZHOU, PARCELS["zh"], "172")
        assert follow_label("zh", first, "assigned", 1).fullmatch(offered(offer)[0])
        ask = await chat.press_label(ZHOU, offer, NEW_PROBLEM["zh"])
        second = await run.finish(ZHOU, ask, "驿站把我的快递放错楼了，没人管")
        assert second != first
        # By SMS, "2" is a new case too.
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "172号楼门口驿站的包裹堆到了路中间")
        assert "回复 3 新建诉求" in "\n".join(reply.messages), reply.messages  # two offered
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "3")
        assert any("#3" in m for m in reply.messages), reply.messages
        cases = await run.cases()
        assert [c.number for c in cases] == [first, second, 3]
        assert [c.followers for c in cases] == [0, 0, 0]
        assert [c.resident_id for c in cases][1] == "r-jzsj-173"
        # The manager got a card for each.
        await chat.until(lambda: cards(run) == 3)


async def test_nothing_is_offered_for_another_category_building_or_after_the_window(
    backend: str, tmp_path: Path
) -> None:
    async with street(backend, tmp_path) as run:
        parcels = await run.first_report()
        # Another category at the same building: nothing offered.
        noise = await run.report(TOM, NOISE["en"], "172", "Loud music every night at 172")
        # Within the noise category's window, a text about noise at 172 is offered Tom's case
        # (not the parcels); "2" says it is not that one: a new case.
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "172号楼楼下广场舞噪音太大了")
        asked = "\n".join(reply.messages)
        assert f"关注 #{noise} ·" in asked, asked
        assert f"#{parcels} ·" not in asked, asked
        reply = await run.text(NEIGHBOUR, SOUTH_NUMBER, "2")
        texted_at = time.monotonic()
        texted = (await run.cases())[-1]
        assert (texted.number, texted.category_id, texted.followers) == (noise + 1, "noise", 0)
        assert any(f"#{texted.number}" in m for m in reply.messages), reply.messages
        # Another building, same category as #1: nothing offered.
        await run.report(ZHOU, PARCELS["zh"], "173", "173号楼门口快递堆着")
        # Past the window, neither noise case at 172 is offered any more.
        await asyncio.sleep(max(texted_at + NOISE_WINDOW + 0.5 - time.monotonic(), 0))
        late = await run.report(LI, NOISE["zh"], WHERE, "楼下广场舞每天吵到十点")
        cases = await run.cases()
        assert [c.number for c in cases] == list(range(1, late + 1))
        assert all(c.followers == 0 for c in cases)
        await run.chat.until(lambda: cards(run) == late)  # and a card for each
