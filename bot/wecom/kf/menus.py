"""An outbox message as customer-service messages: a text, or with buttons a menu (``msgmenu``)
whose click items are the buttons — their data the item's id, so a click comes back as a press.

Within WeCom's bounds: a text of 2,048 bytes, a menu's head of 1,024, 10 items a menu, an item's
id of 64 bytes and its words of 128. A longer text goes in parts; more buttons, in more menus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.buttons import Button

MAX_TEXT_BYTES = 2048
MAX_HEAD_BYTES = 1024
MAX_ITEMS = 10
MAX_ID_BYTES = 64
MAX_ITEM_BYTES = 128

Payload = dict[str, Any]


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, never inside a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")


def parts(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` bytes, split between lines where it can be."""
    found: list[str] = []
    current = ""
    for line in text.strip().split("\n"):
        joined = f"{current}\n{line}" if current else line
        if len(joined.encode()) <= limit:
            current = joined
            continue
        if current:
            found.append(current)
        while len(line.encode()) > limit:  # one line longer than a whole message
            head = cut(line, limit)
            found.append(head)
            line = line[len(head) :]
        current = line
    if current.strip():
        found.append(current)
    return found


def items_of(buttons: Sequence[Sequence[Button]]) -> list[Payload]:
    """The buttons as click items (a button whose data is too long for an id is left out)."""
    found: list[Payload] = []
    for row in buttons:
        for button in row:
            if not button.data or len(button.data.encode()) > MAX_ID_BYTES:
                continue
            words = cut(button.label.strip(), MAX_ITEM_BYTES) or button.data
            found.append({"type": "click", "click": {"id": button.data, "content": words}})
    return found


def payloads(text: str, buttons: Sequence[Sequence[Button]]) -> list[Payload]:
    """What to send, in order: the text (in parts when long), the buttons as menus of at most
    ``MAX_ITEMS`` — the first with the text as its head when it fits one."""
    items = items_of(buttons)
    if not items:
        return [{"msgtype": "text", "text": {"content": p}} for p in parts(text)]
    found: list[Payload] = []
    head = text.strip()
    if len(head.encode()) > MAX_HEAD_BYTES:
        found += [{"msgtype": "text", "text": {"content": p}} for p in parts(head)]
        head = ""
    for start in range(0, len(items), MAX_ITEMS):
        menu: Payload = {"list": items[start : start + MAX_ITEMS]}
        if head:
            menu["head_content"] = head
            head = ""
        found.append({"msgtype": "msgmenu", "msgmenu": menu})
    return found
