"""A resident on Telegram: /start, /help, /lang and the language they are spoken to in, the guided
report (re-asked when they type where a button is wanted, cancellable at every step), /mycases,
/cancel and withdrawing a report."""

from __future__ import annotations

from tests.e2e.conftest import (
    ANNA,
    MANAGER,
    RESIDENT,
    STRANGER,
    SUPERVISOR,
    Running,
    data_of,
    labels,
)

CATEGORIES_ZH = ["快递堆放占道", "建筑垃圾", "设施损坏", "环境卫生", "噪音扰民"]
REASK = "请点击下面的按钮作答"
YUNWAN_MANAGER = 2005  # mgr-yunwan


async def test_start_help_and_lang(running: Running) -> None:
    welcome, help_ = await running.says(RESIDENT, "/start", answers=2)
    assert "李大爷" in welcome.text  # the directory knows them
    assert "/report" in help_.text
    assert "/mycases" in help_.text
    assert "/open" not in help_.text  # the resident's help, not the manager's
    assert (await running.say(RESIDENT, "/help")).text == help_.text
    choose = await running.say(RESIDENT, "/lang")
    assert labels(choose) == ["中文", "English"]
    done = await running.press_label(RESIDENT, choose, "English")
    assert done.text == "Language set to English."
    assert "/report report a problem" in (await running.say(RESIDENT, "/help")).text
    none = await running.say(RESIDENT, "/mycases")
    assert none.text.startswith("You have not reported anything yet")
    assert (await running.person("r-jzsj-172")).language == "en"
    back = await running.press_label(RESIDENT, choose, "中文")
    assert back.text == "已切换为中文。"


async def test_language_from_directory_else_telegram_else_default(running: Running) -> None:
    tg = running.telegram
    # The directory says English; Telegram's app is in Chinese: the directory wins.
    tg.add_user(ANNA, "Anna", "zh")
    welcome, _ = await running.says(ANNA, "/start", answers=2)
    assert welcome.text.startswith("Hello Anna Müller!")
    ask = await running.say(ANNA, "/report")
    assert ask.text == "What kind of problem is it?"
    assert "Parcels blocking the way" in labels(ask)
    assert "✖ Cancel" in labels(ask)
    # Nobody in the directory: Telegram's language_code.
    tg.add_user(5002, "Tom", "en-US")
    welcome, _ = await running.says(5002, "/start", answers=2)
    assert welcome.text.startswith("Hello Tom!")
    # In the directory without a language: Telegram's language_code too.
    tg.add_user(SUPERVISOR, "Zhao", "en")
    assert "Property managers" in (await running.say(SUPERVISOR, "/help")).text
    # Neither: DEFAULT_LANGUAGE (zh).
    tg.add_user(5003, "无语言", None)
    welcome, _ = await running.says(5003, "/start", answers=2)
    assert welcome.text.startswith("您好，无语言！")


async def test_a_newcomer_reports_with_photos(running: Running) -> None:
    tg = running.telegram
    tg.add_user(YUNWAN_MANAGER, "褚经理")
    ask = await running.say(STRANGER, "/report")
    assert ask.text == "请选择问题类别："
    assert labels(ask)[:5] == CATEGORIES_ZH
    assert labels(ask)[-1] == "✖ 取消"
    # Free text where a button is expected: asked again, gently, with the same buttons.
    again = await running.say(STRANGER, "楼上太吵了")
    assert again.text.startswith(REASK)
    assert labels(again) == labels(ask)
    ask = await running.press_label(STRANGER, again, "噪音扰民")
    assert ask.text == "请选择您所在的社区："  # not known for a stranger
    assert "云湾家园社区" in labels(ask)
    assert "嘉州水郡南区社区" in labels(ask)
    again = await running.say(STRANGER, "云湾")
    assert again.text.startswith(REASK)
    ask = await running.press_label(STRANGER, again, "云湾家园社区")
    assert ask.text.startswith("问题在哪里？请写下具体位置")  # Yunwan lists no buildings
    ask = await running.say(STRANGER, "3号楼2单元")
    assert ask.text.startswith("请描述遇到的问题")
    # A photo before the words is kept; the description is still asked for.
    ask = await running.say(STRANGER, photo="photo-file-1")
    assert ask.text.startswith("请描述遇到的问题")
    ask = await running.say(STRANGER, "每天晚上十点后装修，电钻声很大")
    assert "第 1 张照片" in ask.text
    ask = await running.say(STRANGER, photo="photo-file-2")
    assert "第 2 张照片" in ask.text
    assert labels(ask) == ["完成", "✖ 取消"]
    confirm = await running.press_label(STRANGER, ask, "完成")
    for part in ("噪音扰民", "云湾家园社区", "3号楼2单元", "电钻声很大", "照片：2 张"):
        assert part in confirm.text
    assert labels(confirm) == ["✅ 提交", "✖ 取消"]
    received = await running.press_label(STRANGER, confirm, "✅ 提交")
    assert received.text.startswith("已收到您的诉求 #1（噪音扰民，云湾家园社区）")
    [case] = await running.cases()
    assert (case.community_id, case.category_id, case.location) == ("yunwan", "noise", "3号楼2单元")
    assert await running.photo_ids(1) == ["photo-file-1", "photo-file-2"]  # Telegram's file ids
    assert case.resident_id == "tg-5001"
    assert case.manager_id == "mgr-yunwan"
    # The manager gets the two photos (an album, by the resident's file ids), then the card.
    card = await running.next_message(YUNWAN_MANAGER, 2)
    album = tg.inbox(YUNWAN_MANAGER)[:2]
    assert [m.file_id for m in album] == ["photo-file-1", "photo-file-2"]
    assert album[0].album is not None
    assert album[0].album == album[1].album
    assert card.text.startswith("📋 新诉求 #1（附照片 2 张）")
    assert await running.drafts() == []


async def test_every_step_can_be_cancelled(running: Running) -> None:
    cancelled = "已取消本次反映。需要时再发 /report。"

    async def walk(user: int, steps: int) -> None:
        """Start a report, answer ``steps`` questions, then cancel with the question's button."""
        ask = await running.say(user, "/report")
        answers = [
            lambda a: running.press_label(user, a, "环境卫生"),
            lambda a: running.say(user, "5号楼"),
            lambda a: running.say(user, "垃圾没人收"),
            lambda a: running.press_label(user, a, "不用照片"),
        ]
        for answer in answers[:steps]:
            ask = await answer(ask)
        gone = await running.press_label(user, ask, "✖ 取消")
        assert gone.text == cancelled
        assert await running.drafts() == []

    for steps in range(5):  # category, location, description, photos, confirm
        await walk(RESIDENT, steps)
    # the community step, for someone whose community is not known
    ask = await running.say(STRANGER, "/report")
    ask = await running.press_label(STRANGER, ask, "环境卫生")
    assert ask.text == "请选择您所在的社区："
    assert (await running.press_label(STRANGER, ask, "✖ 取消")).text == cancelled
    # /cancel works mid-report too; with nothing in progress it says so
    ask = await running.say(RESIDENT, "/report")
    ask = await running.press_label(RESIDENT, ask, "环境卫生")
    assert (await running.say(RESIDENT, "/cancel")).text == cancelled
    assert (await running.say(RESIDENT, "/cancel")).text == "当前没有正在填写的内容。"
    # a button of the abandoned report does nothing; free text is not understood
    seen = len(running.telegram.inbox(RESIDENT))
    await running.telegram.user_presses(RESIDENT, ask, ask.button_data()[0])
    await running.nothing_more(RESIDENT)
    assert len(running.telegram.inbox(RESIDENT)) == seen + 1
    assert (await running.say(RESIDENT, "你好")).text.startswith("没看懂这条消息")
    assert await running.cases() == []
    assert running.telegram.inbox(MANAGER) == []


async def test_my_cases_and_withdrawing_one(running: Running) -> None:
    assert (await running.say(RESIDENT, "/mycases")).text.startswith("您还没有反映过问题")
    first = await running.report(RESIDENT, "快递堆在路中间")
    received = running.telegram.last(RESIDENT)
    second = await running.report(RESIDENT, "垃圾桶满了", category="环境卫生")
    listing = await running.say(RESIDENT, "/mycases")
    lines = listing.text.splitlines()
    assert lines[0] == "您的诉求："
    assert lines[1].startswith(f"#{second} 环境卫生 · 已派单")  # newest first
    assert lines[2].startswith(f"#{first} 快递堆放占道 · 已派单")
    # the first report's confirmation carries a "withdraw" button while nobody took it on
    assert labels(received) == ["撤回诉求"]
    withdrawn = await running.press(RESIDENT, received, data_of(received, "撤回诉求"))
    assert withdrawn.text == f"诉求 #{first} 已撤回。"
    told = await running.next_message(MANAGER, 2)
    assert told.text == f"居民已撤回诉求 #{first}，无需再处理。"
    await running.until(lambda: received.button_data() == [])
    cards = running.telegram.inbox(MANAGER)[:2]
    await running.until(lambda: cards[0].button_data() == [])  # the manager's card, too
    assert cards[1].button_data() == [f"ack:{second}", f"done:{second}", f"decline:{second}"]
    lines = (await running.say(RESIDENT, "/mycases")).text.splitlines()
    assert lines[1].startswith(f"#{second} 环境卫生 · 已派单")  # open ones first
    assert lines[2].startswith(f"#{first} 快递堆放占道 · 已撤回")
    assert (await running.case(first)).status == "cancelled"


async def test_a_photos_caption_at_the_description_step_is_the_description(
    running: Running,
) -> None:
    ask = await running.say(STRANGER, "/report")
    ask = await running.press_label(STRANGER, ask, "噪音扰民")
    ask = await running.press_label(STRANGER, ask, "云湾家园社区")
    ask = await running.say(STRANGER, "3号楼2单元")
    assert ask.text.startswith("请描述遇到的问题")
    seen = len(running.telegram.inbox(STRANGER))
    await running.telegram.user_says(STRANGER, "楼道灯坏了好几天", photo="photo-with-words")
    ask = await running.next_message(STRANGER, seen)
    assert "第 1 张照片" in ask.text  # on to the photos: the words under it were the description
    confirm = await running.press_label(STRANGER, ask, "完成")
    assert "楼道灯坏了好几天" in confirm.text
    await running.press_label(STRANGER, confirm, "✅ 提交")
    [case] = await running.cases()
    assert case.description == "楼道灯坏了好几天"
    assert await running.photo_ids(case.number or 0) == ["photo-with-words"]
