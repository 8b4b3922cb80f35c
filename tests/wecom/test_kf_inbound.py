"""What is pulled from customer service is untrusted: read into a bounded message whose ids have
WeCom's shape, or passed over — never a value of another type or size reaching the use cases."""

from __future__ import annotations

from typing import Any

from bot.wecom.kf.inbound import MAX_TEXT, pulled

KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"


def _text(**changes: Any) -> dict[str, Any]:
    message = {
        "msgid": "from_msgid_4622416642169452483",
        "open_kfid": KFID,
        "external_userid": USER,
        "send_time": 1615478585,
        "origin": 3,
        "msgtype": "text",
        "text": {"content": "楼道灯坏了", "menu_id": "rate:7:1"},
    }
    return {**message, **changes}


def test_a_click_on_a_menu_item_is_read_with_its_id() -> None:
    message = pulled(_text())
    assert message is not None
    assert (message.user, message.open_kfid, message.origin) == (USER, KFID, 3)
    assert (message.text, message.menu_id) == ("楼道灯坏了", "rate:7:1")
    assert message.sent_at is not None
    assert message.sent_at.timestamp() == 1615478585


def test_a_visit_is_read_from_its_event() -> None:
    event = {
        "event_type": "enter_session",
        "open_kfid": KFID,
        "external_userid": USER,
        "welcome_code": "aaaaaaaBBBBBB",
    }
    raw = {"msgid": "m1", "open_kfid": KFID, "origin": 4, "msgtype": "event", "event": event}
    message = pulled(raw)
    assert message is not None
    assert (message.user, message.event, message.welcome_code) == (
        USER,
        "enter_session",
        "aaaaaaaBBBBBB",
    )


def test_ids_of_no_wecom_shape_are_passed_over() -> None:
    assert pulled(_text(external_userid="wm" + "x" * 40)) is None  # longer than any address
    assert pulled(_text(external_userid="wm/../../etc")) is None
    assert pulled(_text(open_kfid=["wk"])) is None
    assert pulled(_text(msgid="")) is None
    assert pulled(_text(msgtype=None)) is None


def test_what_is_not_of_its_type_or_too_long_is_bounded() -> None:
    message = pulled(
        _text(
            text={"content": "长" * (MAX_TEXT + 10), "menu_id": "x" * 65},
            origin="3",
            send_time=10**20,
        )
    )
    assert message is not None
    assert len(message.text) == MAX_TEXT
    assert (message.menu_id, message.origin, message.sent_at) == ("", 0, None)
    odd = pulled(_text(text="not an object", event=["nor this"]))
    assert odd is not None
    assert (odd.text, odd.menu_id, odd.event) == ("", "", "")
