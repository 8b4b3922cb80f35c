"""The WeCom demo's transcript: what each person saw, in order — members' texts and cards with
their buttons (and each update a press brought), residents' texts and menus with their items,
SMS — and what each person did, as the default demo prints it."""

from __future__ import annotations

import time
from typing import Any

from core.texts import render
from sandbox.demo_script import Line
from sandbox.demo_wecom_people import KFID
from sandbox.demo_wecom_script import WECHAT, WECOM, WeComScript
from sandbox.wecom_state import AppMessage, Card

INDENT = " " * 10


def print_transcript(script: WeComScript) -> None:
    """Everything, in order: who, which channel, the text, the buttons or menu items."""
    lines = list(script.said)
    lines += _members(script)
    lines += _residents(script)
    for sms in script.twilio.sent:
        lines.append(Line(sms.at, script._who(f"sms:{sms.to}"), "SMS", sms.body))
    bot = render(script.language, "demo.bot")
    for line in sorted(lines, key=lambda item: item.at):
        stamp = f"{line.at - script.started:6.1f}s"
        if not line.channel:  # a mark: time passing
            print(f"{stamp}  {line.text}")
            continue
        arrow = f"{bot} → {line.who}" if line.incoming else f"{line.who} → {bot}"
        print(f"{stamp}  {arrow} ({line.channel})")
        if line.text:  # a menu's second part has no words of its own, only items
            print(INDENT + line.text.replace("\n", "\n" + INDENT))
        if line.buttons:
            print(INDENT + "  ".join(f"[{b}]" for b in line.buttons))


def _members(script: WeComScript) -> list[Line]:
    """What the app sent each member: texts, cards, and each card's updates after a press."""
    found = []
    for userid, messages in script.wecom.staff.inboxes.items():
        who = script._who(f"wc:{userid}")
        for message in messages:
            at = _monotonic(script, message.at)
            if message.card is None:
                found.append(Line(at, who, WECOM, message.text))
                continue
            shown = script.shown.get(message.msgid) or [b.text for b in message.card.buttons]
            found.append(Line(at, who, WECOM, message.text, shown))
            found += _updates(script, message, who)
    return found


def _updates(script: WeComScript, message: AppMessage, who: str) -> list[Line]:
    """A card's updates, each just after the press that brought it."""
    card = message.card
    assert card is not None
    edited = render(script.language, "demo.edited")
    presses = [p for p in script.pressed if p.msgid == message.msgid]
    found = []
    for index, update in enumerate(card.updates):
        at = next((p.at for p in presses if p.before == index), presses[-1].at if presses else 0)
        text, buttons = _update_of(update, card)
        found.append(Line(at + 0.001, who, WECOM, f"{edited} {text}", buttons))
    return found


def _update_of(update: dict[str, Any], card: Card) -> tuple[str, list[str]]:
    """What an update changed: the card's status note and buttons, or the label in their place."""
    whole = update.get("template_card")
    if isinstance(whole, dict):
        title = whole.get("main_title") if isinstance(whole.get("main_title"), dict) else {}
        assert isinstance(title, dict)
        note = str(title.get("desc") or title.get("title") or card.title)
        buttons = whole.get("button_list") if isinstance(whole.get("button_list"), list) else []
        assert isinstance(buttons, list)
        return note, [str(b.get("text", "")) for b in buttons if isinstance(b, dict)]
    return f"[{update.get('replace_name', '')}]", []  # the buttons gave way to this label


def _residents(script: WeComScript) -> list[Line]:
    """What customer service sent each resident: texts, and menus with their items."""
    found = []
    for (open_kfid, user), messages in script.wecom.service.inboxes.items():
        if open_kfid != KFID:
            continue
        who = script._who(f"wx:{user}")
        for m in messages:
            at = _monotonic(script, m.at)
            if m.kind != "msgmenu":
                found.append(Line(at, who, WECHAT, m.text))
                continue
            words = "\n".join(part for part in (m.head, m.tail) if part)
            found.append(Line(at, who, WECHAT, words, [item.content for item in m.items]))
    return found


def _monotonic(script: WeComScript, at: float) -> float:
    """A moment of WeCom's clock (the wall clock, moved on by the story) on the script's clock."""
    moved = 0.0
    for wall, seconds in script.jumps:
        if at >= wall + moved + seconds:
            moved += seconds
    return at - moved - (time.time() - time.monotonic())
