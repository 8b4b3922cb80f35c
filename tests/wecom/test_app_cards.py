"""How an outbox message reads in WeCom: a card's title is its first line, the status its
update adds shows beside the title, nothing a card would cut is lost (the whole text goes first),
more than six buttons make more cards, and a text longer than WeCom takes goes in pieces."""

from __future__ import annotations

from bot.wecom.app.cards import (
    MAX_TEXT_BYTES,
    Card,
    Text,
    parts_of,
    row_of,
    task_id,
    update_payload,
)
from core.buttons import Button

CARD = "📋 新诉求 #7\n类别：快递堆放占道\n社区：嘉州水郡南区社区\n内容：快递堆在路上"
ACK = Button("✅ 接单", "ack:7", literal=True)
DONE = Button("🛠 已办好", "done:7", literal=True)


def test_a_card_is_its_first_line_and_the_rest_with_its_buttons_as_keys() -> None:
    [card] = parts_of(CARD, [[ACK, DONE]])
    assert isinstance(card, Card)
    payload = card.payload("wb12-0a1b2c3d")
    assert payload["card_type"] == "button_interaction"
    assert payload["main_title"] == {"title": "📋 新诉求 #7"}
    assert payload["sub_title_text"].startswith("类别：快递堆放占道")
    assert [(b["text"], b["key"]) for b in payload["button_list"]] == [
        ("✅ 接单", "ack:7"),
        ("🛠 已办好", "done:7"),
    ]
    assert payload["task_id"] == "wb12-0a1b2c3d"


def test_the_status_an_update_adds_shows_beside_the_title() -> None:
    text = f"{CARD}\n\n—— 当前状态：处理中"
    body = update_payload(
        userid="wangjl",
        agent_id=1000002,
        code="rc1",
        task="wb12-0a1b2c3d",
        text=text,
        buttons=[DONE],
    )
    card = body["template_card"]
    assert card["main_title"] == {"title": "📋 新诉求 #7", "desc": "—— 当前状态：处理中"}
    assert card["task_id"] == "wb12-0a1b2c3d"  # the same task: the card is changed, not added
    assert [b["key"] for b in card["button_list"]] == ["done:7"]
    assert (body["userids"], body["response_code"]) == (["wangjl"], "rc1")


def test_a_card_left_with_no_buttons_shows_what_was_done_in_their_place() -> None:
    body = update_payload(
        userid="wangjl",
        agent_id=1000002,
        code="rc1",
        task="wb12-0a1b2c3d",
        text="已办结",
        buttons=[],
    )
    assert body["button"] == {"replace_name": "已办结"}
    assert "template_card" not in body


def test_a_text_longer_than_a_card_shows_goes_whole_before_the_card() -> None:
    description = "路口的快递堆了三天，" * 30
    text = f"📋 新诉求 #7\n内容：{description}"
    first, card = parts_of(text, [[ACK]])
    assert isinstance(first, Text)
    assert first.content == text
    assert isinstance(card, Card)
    assert card.sub.endswith("…")
    assert len(card.sub) == 160


def test_more_than_six_buttons_make_a_second_card() -> None:
    buttons = [[Button(f"社区{i}", f"r:community:{i}", literal=True)] for i in range(8)]
    first, second = parts_of("请选择您所在的社区", buttons)
    assert isinstance(first, Card)
    assert isinstance(second, Card)
    assert [b.data for b in first.buttons] == [f"r:community:{i}" for i in range(6)]
    assert [b.data for b in second.buttons] == ["r:community:6", "r:community:7"]
    assert second.title == "请选择您所在的社区 (2/2)"


def test_a_long_text_goes_in_pieces_within_wecoms_bytes_cut_between_lines() -> None:
    lines = [f"#{n} 快递堆放占道 嘉州水郡南区社区 172号楼门口" for n in range(200)]
    parts = parts_of("\n".join(lines), [])
    assert len(parts) > 1
    assert all(isinstance(p, Text) and len(p.content.encode()) <= MAX_TEXT_BYTES for p in parts)
    assert "\n".join(p.content for p in parts if isinstance(p, Text)) == "\n".join(lines)


def test_one_line_longer_than_a_message_is_cut_inside_and_nothing_is_lost() -> None:
    line = "很" * 1500  # 4,500 bytes
    parts = parts_of(line, [])
    assert "".join(p.content for p in parts if isinstance(p, Text)) == line


def test_a_task_id_names_its_outbox_row_and_no_other_id_does() -> None:
    made = task_id(42)
    assert row_of(made) == 42
    assert task_id(42) != made  # a nonce: a fresh database never repeats an earlier task
    assert row_of("wb42") is None
    assert row_of("someone-elses-task") is None
    assert row_of("wb42-0a1b2c3d-x") is None
