"""An outbox message as customer-service messages: a text alone; with buttons a menu whose click
items carry the buttons' data; within WeCom's bounds whatever the text and the buttons."""

from __future__ import annotations

from bot.wecom.kf.menus import (
    MAX_HEAD_BYTES,
    MAX_ID_BYTES,
    MAX_ITEM_BYTES,
    MAX_ITEMS,
    MAX_TEXT_BYTES,
    parts,
    payloads,
)
from core.buttons import Button


def _buttons(count: int) -> list[list[Button]]:
    return [[Button(f"选项{i}", f"r:category:{i}", literal=True)] for i in range(count)]


def test_a_text_without_buttons_is_one_text() -> None:
    assert payloads("您的诉求 #7 已办结。", []) == [
        {"msgtype": "text", "text": {"content": "您的诉求 #7 已办结。"}}
    ]


def test_buttons_are_click_items_carrying_their_data_under_the_text() -> None:
    rating = [[Button("😊 满意", "rate:7:1", literal=True), Button("😞 不满意", "rate:7:3", True)]]
    [menu] = payloads("请您评价：", rating)
    assert menu == {
        "msgtype": "msgmenu",
        "msgmenu": {
            "head_content": "请您评价：",
            "list": [
                {"type": "click", "click": {"id": "rate:7:1", "content": "😊 满意"}},
                {"type": "click", "click": {"id": "rate:7:3", "content": "😞 不满意"}},
            ],
        },
    }


def test_more_than_ten_buttons_go_in_more_menus_none_lost() -> None:
    sent = payloads("请选择问题类别：", _buttons(23))
    menus = [p["msgmenu"] for p in sent]
    assert [len(m["list"]) for m in menus] == [MAX_ITEMS, MAX_ITEMS, 3]
    assert menus[0]["head_content"] == "请选择问题类别："
    assert "head_content" not in menus[1]
    ids = [item["click"]["id"] for m in menus for item in m["list"]]
    assert ids == [f"r:category:{i}" for i in range(23)]


def test_a_long_text_goes_in_parts_before_its_menu_all_within_the_bounds() -> None:
    text = "\n".join(f"第{i}行：" + "很长的说明" * 40 for i in range(12))
    label = "标签" * 100  # 600 bytes: cut to 128, never inside a character
    sent = payloads(text, [[Button(label, "ack:1", literal=True)]])
    texts = [p["text"]["content"] for p in sent if p["msgtype"] == "text"]
    assert all(len(t.encode()) <= MAX_TEXT_BYTES for t in texts)
    assert "\n".join(texts) == text  # split between lines: nothing lost
    menu = sent[-1]["msgmenu"]
    assert "head_content" not in menu  # the text was too long for a head
    content = menu["list"][0]["click"]["content"]
    assert len(content.encode()) <= MAX_ITEM_BYTES
    assert label.startswith(content)


def test_one_line_longer_than_a_message_is_cut_between_characters() -> None:
    line = "漏" * 2000  # 6,000 bytes, no line break to split at
    pieces = parts(line)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces)
    assert "".join(pieces) == line


def test_a_head_that_fits_stays_with_its_menu() -> None:
    head = "好" * (MAX_HEAD_BYTES // 3)
    [menu] = payloads(head, _buttons(2))
    assert menu["msgmenu"]["head_content"] == head


def test_a_button_whose_data_no_id_can_hold_is_left_out() -> None:
    long = Button("太长", "x" * (MAX_ID_BYTES + 1), literal=True)
    [menu] = payloads("选择：", [[long, Button("好", "ack:3", literal=True)]])
    assert [i["click"]["id"] for i in menu["msgmenu"]["list"]] == ["ack:3"]


def test_nothing_to_say_is_nothing_sent() -> None:
    assert payloads("  \n ", []) == []
