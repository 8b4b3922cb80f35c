"""Community staff on cases that reach them (declined, escalated): /case, reassign by a button per
manager, reject with a reason or as a duplicate. And every press someone may not make, or that
comes after the status moved on: an alert, and nothing changes."""

from __future__ import annotations

from bot.directory_file import read_directory
from bot.services.cases import lifecycle
from bot.services.directory.load import load_directory
from tests.conftest import EXAMPLE
from tests.e2e.conftest import (
    ANNA,
    MANAGER,
    OTHER_MANAGER,
    RESIDENT,
    STAFF,
    SUPERVISOR,
    Running,
    data_of,
    labels,
)

STAFF_BUTTONS = ["改派", "不予受理", "直接办结"]
OTHER_STAFF = 1002  # suxinghua, staff of bgy-north
YUNWAN_STAFF = 1005  # lina


async def test_a_declined_case_is_reassigned_by_staff(running: Running) -> None:
    tg = running.telegram
    number = await running.report(RESIDENT, "小区门口的井盖松了", category="安全隐患")
    card = await running.next_message(MANAGER, 0)
    await tg.user_presses(MANAGER, card, f"decline:{number}")
    declined = await running.next_message(STAFF, 0)
    assert declined.text.startswith(f"↩️ 负责人表示诉求 #{number}（安全隐患，嘉州水郡南区社区）")
    assert labels(declined) == STAFF_BUTTONS
    assert declined.button_data() == [f"reassign:{number}", f"reject:{number}", f"close:{number}"]
    await running.until(lambda: card.button_data() == [])  # no longer the manager's to act on
    assert card.text.endswith("—— 当前状态：待指派")

    shown = await running.say(STAFF, f"/case {number}")
    assert shown.text.startswith(f"诉求 #{number}\n类别：安全隐患")
    assert "状态：待指派" in shown.text
    assert "负责人：-" in shown.text
    assert labels(shown) == STAFF_BUTTONS
    assert (await running.say(STAFF, "/case abc")).text.startswith("用法：/case 编号")
    assert (await running.say(STAFF, "/case 99")).text == "没有找到诉求 #99。"

    choose = await running.press(STAFF, shown, f"reassign:{number}")
    assert choose.text == f"请选择诉求 #{number} 的新负责人："
    names = labels(choose)
    assert {"王经理", "赵主管"} <= set(names)  # the community's managers and supervisor
    assert "郑经理" not in names  # not another community's
    assert names[-1] == "✖ 取消"
    again = await running.say(STAFF, "赵主管")  # typed instead of pressed: asked again
    assert again.text == f"请点击下面的按钮作答。\n请选择诉求 #{number} 的新负责人："
    assert labels(again) == names
    seen = len(tg.inbox(RESIDENT))
    before = len(tg.inbox(SUPERVISOR))
    await tg.user_presses(STAFF, again, data_of(again, "赵主管"))
    new_card = await running.next_message(SUPERVISOR, before)
    assert new_card.text.startswith(f"📋 新诉求 #{number}")
    assert new_card.button_data() == [f"ack:{number}", f"done:{number}", f"decline:{number}"]
    told = await running.next_message(RESIDENT, seen)
    assert told.text == f"您的诉求 #{number} 已由社区改派给新的负责人。"
    # the staff's messages now say where it stands
    await running.until(lambda: declined.text.endswith("—— 当前状态：已派单"))
    case = await running.case(number)
    assert (case.status, case.manager_id) == ("assigned", "sup-jzsj-south")
    assert (await running.events(number))[-2:] == ["declined", "reassigned"]


async def test_staff_reject_an_escalated_case_as_a_duplicate_or_with_a_reason(
    running: Running,
) -> None:
    tg = running.telegram
    first = await running.report(RESIDENT, "快递堆在路中间")
    second = await running.report(RESIDENT, "快递又堆在路中间")
    # The clock escalates the second case twice: to the supervisor, then to the staff.
    await lifecycle.escalate(running.ctx, number=second)
    running.stack.kick()
    up = await running.next_message(SUPERVISOR, 0)
    assert up.text.startswith(f"⏫ 诉求 #{second}（快递堆放占道，嘉州水郡南区社区）")
    assert "已升级至您（物业主管）跟进" in up.text
    assert up.button_data() == [f"ack:{second}", f"done:{second}", f"decline:{second}"]
    await lifecycle.escalate(running.ctx, number=second)
    running.stack.kick()
    reached = await running.next_message(STAFF, 0)
    assert "已升级至您（社区工作人员）" in reached.text
    assert labels(reached) == STAFF_BUTTONS
    # the resident heard of both steps
    await running.until(lambda: "社区工作人员跟进" in tg.last(RESIDENT).text)
    assert [m.text for m in tg.inbox(RESIDENT)[-2:]] == [
        f"您的诉求 #{second} 已升级至物业主管跟进。",
        f"您的诉求 #{second} 已升级至社区工作人员跟进。",
    ]

    why = await running.press(STAFF, reached, f"reject:{second}")
    assert why.text.startswith(f"请回复诉求 #{second} 不予受理的原因")
    seen = len(tg.inbox(RESIDENT))
    await tg.user_says(STAFF, f"#{first}")
    rejected = await running.next_message(RESIDENT, seen)
    # A duplicate is merged into its original, which carries it on (the resident is told so).
    assert rejected.text == (
        f"诉求 #{second} 与 #{first} 是同一问题，已合并到 #{first} 继续办理，进展会通知您。"
    )
    await running.until(lambda: reached.button_data() == [] and up.button_data() == [])
    case = await running.case(second)
    assert (case.status, case.duplicate_of) == ("rejected", first)

    # The first one, looked up by number, rejected with a reason in words.
    shown = await running.say(STAFF, f"/case #{first}")
    why = await running.press(STAFF, shown, f"reject:{first}")
    await tg.user_says(STAFF, "属于市政道路，已转12345")
    rejected = await running.next_message(RESIDENT, seen + 1)
    assert rejected.text == f"很抱歉，诉求 #{first} 不予受理。原因：属于市政道路，已转12345"
    assert (await running.case(first)).status == "rejected"
    withdrawn = await running.next_message(MANAGER, 2)
    assert withdrawn.text.startswith(f"诉求 #{second} 已不再由您负责")


async def test_presses_not_allowed_are_alerts_and_change_nothing(running: Running) -> None:
    tg = running.telegram
    tg.add_user(OTHER_STAFF, "苏兴华")
    number = await running.report(RESIDENT, "快递堆在路中间")
    received = tg.last(RESIDENT)
    card = await running.next_message(MANAGER, 0)
    not_entitled = "您无权对该诉求进行此操作。"
    for who, data in (
        (RESIDENT, f"ack:{number}"),  # a resident is no manager
        (OTHER_MANAGER, f"done:{number}"),  # another community's manager
        (STAFF, f"ack:{number}"),  # staff reassign, they do not acknowledge
        (OTHER_STAFF, f"reassign:{number}"),  # another community's staff
        (MANAGER, f"rate:{number}:3"),  # only the resident rates
    ):
        alert = await running.alert(who, card, data)
        assert alert["show_alert"] is True
        assert alert["text"] == not_entitled, (who, data)
    english = await running.alert(ANNA, card, f"decline:{number}")
    assert english["text"] == "You may not do that on this case."
    assert (await running.alert(MANAGER, card, "hack:1"))["text"] == "该按钮已失效。"
    assert (await running.alert(MANAGER, card, f"ack:{number + 7}"))["text"] == (
        f"没有找到诉求 #{number + 7}。"
    )
    assert await running.events(number) == ["reported", "routed"]

    # The status moves on; a press meant for the old status is refused.
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(
        lambda: card.button_data() == [f"done:{number}", f"decline:{number}", f"ask:{number}"]
    )
    stale = await running.alert(MANAGER, card, f"ack:{number}")
    assert stale["show_alert"] is True
    assert stale["text"] == f"诉求 #{number} 当前为「处理中」，不能进行此操作。"
    withdraw = await running.alert(RESIDENT, received, f"cancel:{number}")
    assert withdraw["text"] == f"诉求 #{number} 当前为「处理中」，不能进行此操作。"
    seen = len(tg.inbox(RESIDENT))
    await tg.user_presses(MANAGER, card, f"done:{number}")
    resolved = await running.next_message(RESIDENT, seen)
    assert labels(resolved) == ["😊 满意", "🙂 基本满意", "😞 不满意"]
    # "Not satisfied" asks why; the resident thinks again and presses "satisfied" instead.
    why = await running.press(RESIDENT, resolved, f"rate:{number}:3")
    assert f"诉求 #{number} 哪里还有问题" in why.text
    await running.press(RESIDENT, resolved, f"rate:{number}:1")
    # The question no longer stands: what they type next is no reason for a verdict given.
    overtaken = await running.say(RESIDENT, "谢谢，已经清理好了")
    assert overtaken.text == f"诉求 #{number} 已结束（已办结），无法再操作。"
    assert await running.drafts() == []
    assert (await running.say(RESIDENT, "好的")).text.startswith("没看懂这条消息")
    for who, message, data in (
        (RESIDENT, resolved, f"rate:{number}:3"),
        (MANAGER, card, f"done:{number}"),
        (STAFF, card, f"close:{number}"),
    ):
        alert = await running.alert(who, message, data)
        assert alert["text"] == f"诉求 #{number} 已结束（已办结），无法再操作。", (who, data)
    case = await running.case(number)
    assert (case.status, case.rating) == ("closed", "satisfied")
    assert await running.events(number) == [
        "reported",
        "routed",
        "acknowledged",
        "resolved",
        "rated",
    ]
    # nobody was sent anything for the refused presses
    for person in (RESIDENT, MANAGER, STAFF, OTHER_MANAGER, OTHER_STAFF):
        seen = len(tg.inbox(person))
        await running.nothing_more(person)
        assert len(tg.inbox(person)) == seen + 1


async def test_a_case_no_rule_routes_waits_for_staff(running: Running) -> None:
    tg = running.telegram
    # An edited directory: Yunwan's routing rule is gone, so its cases reach nobody by routing.
    directory = read_directory(EXAMPLE)
    rules = [r for r in directory.routing if r.community != "yunwan"]
    await load_directory(running.ctx, directory.model_copy(update={"routing": rules}))
    tg.add_user(YUNWAN_STAFF, "李娜")
    # Anna reports in English; the confirmation names the case in English too.
    ask = await running.say(ANNA, "/report")
    ask = await running.press_label(ANNA, ask, "Water leak")
    assert ask.text.startswith("Where is it?")
    ask = await running.say(ANNA, "Building 3, basement")
    assert ask.text.startswith("Please describe the problem")
    ask = await running.say(ANNA, "Water is dripping from the ceiling")
    ask = await running.press_label(ANNA, ask, "No photos")
    assert ask.text.startswith("Please confirm:\nCategory: Water leak\nCommunity: Yunwan Homes")
    received = await running.press_label(ANNA, ask, "✅ Submit")
    assert received.text.startswith("We received your report #1 (Water leak, Yunwan Homes).")
    assert (await running.case(1)).status == "unassigned"
    unrouted = await running.next_message(YUNWAN_STAFF, 0)
    assert unrouted.text.startswith("⚠️ 诉求 #1（漏水，云湾家园社区）没有对应的负责人，请指派。")
    assert labels(unrouted) == STAFF_BUTTONS
    why = await running.press(YUNWAN_STAFF, unrouted, "reject:1")
    assert why.text.startswith("请回复诉求 #1 不予受理的原因")
    seen = len(tg.inbox(ANNA))
    await tg.user_says(YUNWAN_STAFF, "Private flat: please call your landlord")
    rejected = await running.next_message(ANNA, seen)
    assert rejected.text == (
        "Sorry, report #1 was rejected. Reason: Private flat: please call your landlord"
    )
    await running.until(lambda: unrouted.button_data() == [])
    assert unrouted.text.endswith("—— 当前状态：不予受理")


async def test_staff_close_a_case_directly_and_are_asked_why_it_is_closed(
    running: Running,
) -> None:
    number = await running.report(RESIDENT, "小区门口的井盖松了", category="安全隐患")
    shown = await running.say(STAFF, f"/case {number}")
    why = await running.press(STAFF, shown, f"close:{number}")
    # Asked for the closing note, not for a reason to reject.
    assert why.text.startswith(f"请回复直接办结诉求 #{number} 的说明")
    assert "不予受理" not in why.text
    seen = len(running.telegram.inbox(RESIDENT))
    await running.telegram.user_says(STAFF, "已由社区联系维修，井盖已固定")
    await running.next_message(RESIDENT, seen)
    case = await running.case(number)
    assert case.status == "closed"
