"""A resident's photos reach whoever must act on the case, in their Telegram chat: one photo with
the card as its caption (edited as a caption as the case moves), several as an album before the
card, a card too long for a caption after its photo; again for each new holder (escalation, a
staff's reassignment, a leaver's cases handed on)."""

from __future__ import annotations

import re

from bot.directory_file import read_directory
from bot.services.cases import lifecycle
from bot.services.directory.load import load_directory
from sandbox.telegram import Sent
from tests.conftest import EXAMPLE
from tests.e2e.conftest import (
    MANAGER,
    OTHER_MANAGER,
    RESIDENT,
    STAFF,
    SUPERVISOR,
    Running,
    data_of,
)

CARD_BUTTONS = ["ack:{n}", "done:{n}", "decline:{n}"]


async def report_with_photos(
    run: Running, description: str, photos: list[str], *, forget: bool = False
) -> int:
    """The resident walks the guided report, sending ``photos`` after the description;
    ``forget``: Telegram no longer knows their file ids by the time the report is filed."""
    ask = await run.say(RESIDENT, "/report")
    ask = await run.press_label(RESIDENT, ask, "设施损坏")
    ask = await run.say(RESIDENT, "172号楼门口")
    ask = await run.say(RESIDENT, description)
    for photo in photos:
        ask = await run.say(RESIDENT, photo=photo)
    confirm = await run.press_label(RESIDENT, ask, "完成")
    for photo in photos if forget else ():
        run.telegram.sendable.forget(photo)
    received = await run.press_label(RESIDENT, confirm, "✅ 提交")
    found = re.search(r"#(\d+)", received.text)
    assert found is not None, received.text
    return int(found.group(1))


def buttons(number: int, *templates: str) -> list[str]:
    """Callback data for case ``number``."""
    return [t.format(n=number) for t in templates]


async def test_one_photo_comes_with_the_card_as_its_caption_and_the_caption_follows(
    running: Running,
) -> None:
    tg = running.telegram
    number = await report_with_photos(running, "长椅断了一条腿，老人坐着危险", ["bench-1"])
    card = await running.next_message(MANAGER, 0)
    assert card.photo
    assert card.file_id == "bench-1"  # the resident's own file id: nothing downloaded or uploaded
    assert tg.sendable.uploads == 0
    assert card.text.startswith(f"📋 新诉求 #{number}（附照片 1 张）")
    assert "长椅断了一条腿" in card.text
    assert card.button_data() == buttons(number, *CARD_BUTTONS)

    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(lambda: card.text.endswith("—— 当前状态：处理中"))
    assert card.photo
    assert card.button_data() == buttons(number, "done:{n}", "decline:{n}", "ask:{n}")
    await tg.user_presses(MANAGER, card, f"done:{number}")
    await running.until(lambda: card.text.endswith("—— 当前状态：待评价"))
    wanted = f"rate:{number}:1"
    await running.until(lambda: any(wanted in m.button_data() for m in tg.inbox(RESIDENT)))
    rate = next(m for m in tg.inbox(RESIDENT) if wanted in m.button_data())
    await tg.user_presses(RESIDENT, rate, f"rate:{number}:1")
    await running.until(lambda: card.text.endswith("—— 当前状态：已办结"))
    await running.until(lambda: (running.telegram.inbox(MANAGER)[-1].text or "").startswith("诉求"))
    assert card.button_data() == []
    # Every edit of the photo's card was a caption edit: the card stayed one message, in place.
    photos = [m for m in tg.inbox(MANAGER) if m.photo]
    assert photos == [card]
    assert card.edits == 3
    assert [text.rsplit("：", 1)[-1] for _, text, _ in card.history[1:]] == [
        "处理中",
        "待评价",
        "已办结",
    ]


async def test_a_card_too_long_for_a_caption_comes_after_its_photo(running: Running) -> None:
    tg = running.telegram
    description = "长椅断了，" + "木条裂开，钉子露在外面，" * 75  # ~950 characters
    number = await report_with_photos(running, description, ["bench-long"])
    card = await running.next_message(MANAGER, 1)
    photo = tg.inbox(MANAGER)[0]
    assert (photo.photo, photo.file_id, photo.text, photo.buttons) == (True, "bench-long", "", [])
    assert not card.photo
    assert card.text.startswith(f"📋 新诉求 #{number}（附照片 1 张）")
    assert card.button_data() == buttons(number, *CARD_BUTTONS)
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(lambda: card.text.endswith("—— 当前状态：处理中"))
    assert photo.edits == 0


async def test_the_photos_reach_each_new_holder_after_an_escalation(running: Running) -> None:
    tg = running.telegram
    number = await report_with_photos(running, "路灯杆歪了，随时会倒", ["pole-1", "pole-2"])
    card = await running.next_message(MANAGER, 2)
    assert [m.file_id for m in tg.inbox(MANAGER)[:2]] == ["pole-1", "pole-2"]
    assert card.text.startswith(f"📋 新诉求 #{number}（附照片 2 张）")

    await lifecycle.escalate(running.ctx, number=number)  # the clock: overdue, one level up
    escalated = await running.next_message(SUPERVISOR, 2)
    album = tg.inbox(SUPERVISOR)[:2]
    assert [m.file_id for m in album] == ["pole-1", "pole-2"]
    assert album[0].album == album[1].album
    assert escalated.text.startswith(f"⏫ 诉求 #{number}（附照片 2 张）")

    await lifecycle.escalate(running.ctx, number=number)  # and up to the community's staff
    staff = await _card_after_album(running, STAFF)
    assert staff.text.startswith(f"⏫ 诉求 #{number}（附照片 2 张）")
    assert tg.sendable.uploads == 0


async def test_one_photo_reaches_the_supervisor_as_a_captioned_card(running: Running) -> None:
    number = await report_with_photos(running, "井盖松动，踩上去会翻", ["manhole-1"])
    await running.next_message(MANAGER, 0)
    await lifecycle.escalate(running.ctx, number=number)
    escalated = await running.next_message(SUPERVISOR, 0)
    assert (escalated.photo, escalated.file_id) == (True, "manhole-1")
    assert escalated.text.startswith(f"⏫ 诉求 #{number}（附照片 1 张）")
    assert escalated.button_data()  # the holder's buttons ride on the photo


async def _card_after_album(running: Running, chat: int) -> Sent:
    """The first message with text in ``chat`` after the album that came before it."""
    await running.until(lambda: any(m.text for m in running.telegram.inbox(chat)))
    inbox = running.telegram.inbox(chat)
    first = next(i for i, m in enumerate(inbox) if m.text)
    assert [m.photo for m in inbox[:first]] == [True, True]
    return inbox[first]


async def test_a_case_reassigned_by_staff_reaches_the_new_holder_with_its_photo(
    running: Running,
) -> None:
    tg = running.telegram
    number = await report_with_photos(running, "单元门的闭门器掉了", ["door-1"])
    card = await running.next_message(MANAGER, 0)
    await tg.user_presses(MANAGER, card, f"decline:{number}")  # not his: staff reassign it
    declined = await running.next_message(STAFF, 0)
    shown = await running.press(STAFF, declined, f"reassign:{number}")
    before = len(tg.inbox(SUPERVISOR))
    await tg.user_presses(STAFF, shown, data_of(shown, "赵主管"))
    new_card = await running.next_message(SUPERVISOR, before)
    assert (new_card.photo, new_card.file_id) == (True, "door-1")
    assert new_card.text.startswith(f"📋 新诉求 #{number}（附照片 1 张）")
    assert new_card.button_data() == buttons(number, *CARD_BUTTONS)
    # The old card (a caption) lost its buttons when he declined: edited in place, a photo still.
    await running.until(lambda: card.button_data() == [])
    assert card.text.endswith("—— 当前状态：待指派")
    assert (card.photo, card.edits) == (True, 1)


async def test_a_leavers_case_reaches_the_new_manager_with_its_photos(running: Running) -> None:
    tg = running.telegram
    number = await report_with_photos(running, "快递把消防通道堵了", ["exit-1", "exit-2"])
    await running.next_message(MANAGER, 2)
    before = len(tg.inbox(OTHER_MANAGER))
    # 王经理 left: the file no longer lists him, and jzsj-south now goes to 郑经理.
    directory = read_directory(EXAMPLE)
    people = [p for p in directory.people if p.id != "mgr-jzsj-south"]
    routing = [
        r.model_copy(update={"manager": "mgr-bgy-north"}) if r.manager == "mgr-jzsj-south" else r
        for r in directory.routing
    ]
    edited = directory.model_copy(update={"people": people, "routing": routing})
    summary = await load_directory(running.ctx, edited)
    assert [(m.number, m.to_id) for m in summary.moves] == [(number, "mgr-bgy-north")]
    new_card = await running.next_message(OTHER_MANAGER, before + 2)
    album = tg.inbox(OTHER_MANAGER)[before : before + 2]
    assert [m.file_id for m in album] == ["exit-1", "exit-2"]
    assert new_card.text.startswith(f"📋 新诉求 #{number}（附照片 2 张）")
    assert f"ack:{number}" in new_card.button_data()


async def test_a_photo_telegram_refuses_leaves_the_card_as_text_edited_as_text(
    running: Running,
) -> None:
    tg = running.telegram
    number = await report_with_photos(running, "楼道灯不亮", ["gone-1"], forget=True)
    card = await running.next_message(MANAGER, 0)
    assert not card.photo  # the photo was refused; the card went as text all the same
    assert card.text.startswith(f"📋 新诉求 #{number}（附照片 1 张）")
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(lambda: card.text.endswith("—— 当前状态：处理中"))
    assert card.button_data() == buttons(number, "done:{n}", "decline:{n}", "ask:{n}")
