"""A case between the resident and the manager: the resident hears of every step and rates ("not
satisfied" asks why and reopens), the manager's card follows the status, /open lists what is
open, and a manager without Telegram binds their chat by invite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.channels import BOOK
from bot.services.talk.invites import create_invite
from bot.services.unit.context import ServiceContext
from tests.e2e.conftest import (
    MANAGER,
    RESIDENT,
    STAFF,
    STRANGER,
    SUPERVISOR,
    YUANXIANG,
    Running,
    data_of,
    labels,
)

RATINGS = ["😊 满意", "🙂 基本满意", "😞 不满意"]


async def test_the_resident_hears_every_step_and_not_satisfied_reopens(running: Running) -> None:
    tg = running.telegram
    number = await running.report(RESIDENT, "快递和快递车堆在马路上")
    card = await running.next_message(MANAGER, 0)
    seen = len(tg.inbox(RESIDENT))
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    told = await running.next_message(RESIDENT, seen)
    assert told.text == f"您的诉求 #{number} 已有负责人接单，正在处理。"
    await tg.user_presses(MANAGER, card, f"done:{number}")
    resolved = await running.next_message(RESIDENT, seen + 1)
    assert resolved.text == f"负责人表示诉求 #{number} 已办好。请您评价："
    assert labels(resolved) == RATINGS
    assert resolved.button_data() == [f"rate:{number}:{code}" for code in "123"]

    # "Not satisfied" asks for the reason in one message; nothing changes until it comes.
    why = await running.press_label(RESIDENT, resolved, "😞 不满意")
    assert f"诉求 #{number} 哪里还有问题" in why.text
    assert labels(why) == ["不说明原因", "✖ 取消"]
    assert (await running.case(number)).status == "resolved"
    reopened = await running.say(RESIDENT, "快递车还停在路上")
    assert reopened.text == f"诉求 #{number} 已重新交办，并升级至物业主管跟进。"
    again = await running.next_message(MANAGER, 1)  # the reason is told with the reopen
    assert again.text.startswith(f"🔁 居民对诉求 #{number} 的处理不满意")
    assert "原因：快递车还停在路上" in again.text
    assert again.button_data() == [f"ack:{number}", f"done:{number}", f"decline:{number}"]
    escalated = await running.next_message(SUPERVISOR, 0)
    assert f"⏫ 诉求 #{number}" in escalated.text
    assert "物业主管" in escalated.text
    case = await running.case(number)
    assert (case.status, case.reopen_count, case.escalation_level) == ("assigned", 1, 1)
    # the old rating buttons are gone: that verdict was given
    await running.until(lambda: resolved.button_data() == [])

    # Fixed again; this time "basically satisfied" closes it, and the manager hears the verdict.
    await tg.user_presses(MANAGER, again, f"done:{number}")
    resolved = await running.next_message(RESIDENT, seen + 4)
    assert labels(resolved) == RATINGS
    closed = await running.press_label(RESIDENT, resolved, "🙂 基本满意")
    assert closed.text == f"诉求 #{number} 已办结，感谢您的评价（基本满意）。"
    verdict = await running.next_message(MANAGER, 2)
    assert verdict.text == f"诉求 #{number} 的居民评价：基本满意。"
    await running.until(lambda: card.text.endswith("已办结") and again.text.endswith("已办结"))
    assert card.button_data() == again.button_data() == []
    case = await running.case(number)
    assert (case.status, case.rating, case.reopen_count) == ("closed", "basically_satisfied", 1)
    events = await running.events(number)
    assert events == [
        "reported",
        "routed",
        "acknowledged",
        "resolved",
        "rated",
        "reopened",
        "resolved",
        "rated",
    ]


async def test_the_card_follows_the_status_and_open_lists_oldest_first(running: Running) -> None:
    tg = running.telegram
    assert (await running.say(MANAGER, "/open")).text == "没有待处理的诉求。"
    first = await running.report(RESIDENT, "快递堆在路中间")
    second = await running.report(RESIDENT, "垃圾桶满了", category="环境卫生")
    await running.until(lambda: len(tg.inbox(MANAGER)) == 3)
    card = tg.inbox(MANAGER)[2]
    assert card.text.startswith(f"📋 新诉求 #{second}")
    assert labels(card) == ["✅ 接单", "🛠 已办好", "↩️ 非我负责"]
    await tg.user_presses(MANAGER, card, f"ack:{second}")
    await running.until(
        lambda: card.button_data() == [f"done:{second}", f"decline:{second}", f"ask:{second}"]
    )
    assert card.text.endswith("—— 当前状态：处理中")
    assert card.edits == 1
    lines = (await running.say(MANAGER, "/open")).text.splitlines()
    assert lines[0] == "待处理的诉求（最早的在前）："
    assert lines[1].startswith(f"#{first} 快递堆放占道 · 嘉州水郡南区社区 · 已派单")
    assert lines[2].startswith(f"#{second} 环境卫生 · 嘉州水郡南区社区 · 处理中")
    await tg.user_presses(MANAGER, card, f"done:{second}")
    await running.until(lambda: card.button_data() == [])
    assert card.text.endswith("—— 当前状态：待评价")
    assert card.text.count("当前状态") == 1  # edited in place, not piled up
    assert len(tg.inbox(MANAGER)) == 4  # two cards and two /open answers, nothing more
    # the supervisor and the community's staff see the same open cases
    for person in (SUPERVISOR, STAFF):
        lines = (await running.say(person, "/open")).text.splitlines()
        assert [line.split()[0] for line in lines[1:]] == [f"#{first}", f"#{second}"]


async def test_an_invite_binds_a_chat_once_before_it_expires(running: Running) -> None:
    tg = running.telegram
    # 冯经理 (mgr-yuanxiang) is in the directory without Telegram.
    invite = await create_invite(running.ctx, person_id="mgr-yuanxiang")
    bound = await running.say(STRANGER, f"/start {invite.code}")
    assert bound.text == "绑定成功：冯经理（物业负责人）。之后的诉求会发到这里。"
    assert await running.address("mgr-yuanxiang") == str(STRANGER)
    assert "/open" in (await running.say(STRANGER, "/help")).text  # the manager's help now
    # the code works once
    tg.add_user(5002, "冒用者")
    refused = await running.say(5002, f"/start {invite.code}")
    assert refused.text.startswith("这个邀请链接无效、已使用或已过期")
    # and not after seven days
    week_ago = datetime.now(UTC) - timedelta(days=7, minutes=1)
    old = ServiceContext(channels=BOOK, db=running.ctx.db, clock=lambda: week_ago)
    stale = await create_invite(old, person_id="sup-jzsj-north")
    refused = await running.say(5002, f"/start {stale.code}")
    assert refused.text.startswith("这个邀请链接无效、已使用或已过期")
    assert await running.address("sup-jzsj-north") is None
    assert await running.address("mgr-yuanxiang") == str(STRANGER)
    # the bound manager now gets Yuanxiang's cases on Telegram, with buttons that work
    number = await running.report(YUANXIANG, "长廊的长椅坏了", category="设施损坏")
    card = await running.next_message(STRANGER, 2)
    assert card.text.startswith(f"📋 新诉求 #{number}")
    seen = len(tg.inbox(YUANXIANG))
    await tg.user_presses(STRANGER, card, f"ack:{number}")
    told = await running.next_message(YUANXIANG, seen)
    assert told.text == f"您的诉求 #{number} 已有负责人接单，正在处理。"


async def test_no_button_outlives_its_status(running: Running) -> None:
    tg = running.telegram
    number = await running.report(RESIDENT, "快递堆在路中间")
    card = await running.next_message(MANAGER, 0)
    await tg.user_presses(MANAGER, card, f"decline:{number}")
    declined = await running.next_message(STAFF, 0)
    choose = await running.press(STAFF, declined, f"reassign:{number}")
    seen = len(tg.inbox(RESIDENT))
    before = len(tg.inbox(SUPERVISOR))
    await tg.user_presses(STAFF, choose, data_of(choose, "赵主管"))
    told = await running.next_message(RESIDENT, seen)
    assert told.text == f"您的诉求 #{number} 已由社区改派给新的负责人。"
    new_card = await running.next_message(SUPERVISOR, before)
    await tg.user_presses(SUPERVISOR, new_card, f"ack:{number}")
    await running.next_message(RESIDENT, seen + 1)  # taken on
    await running.until(
        lambda: new_card.button_data() == [f"done:{number}", f"decline:{number}", f"ask:{number}"]
    )
    about_the_case = tg.inbox(RESIDENT)[5:]  # from "received #n" on
    # every message about the case loses its withdraw button (the edits come one by one)
    await running.until(lambda: all(not m.button_data() for m in about_the_case))
