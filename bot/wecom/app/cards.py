"""An outbox message as WeCom's messages: a text (cut into pieces WeCom takes), or cards of type
``button_interaction`` whose buttons carry our callback data as their keys, and the body of a
card's update. Pure: no I/O."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.buttons import Button

# WeCom's limits: a text's content in bytes, a card's buttons; and the lengths its documentation
# advises (longer ones are cut on the phone, so we cut them ourselves, with an ellipsis).
MAX_TEXT_BYTES = 2048
MAX_BUTTONS = 6
TITLE_CHARS, DESC_CHARS, SUB_CHARS, BUTTON_CHARS = 36, 44, 160, 10
# Our task ids: "wb" and the outbox row's id, then a nonce (a task id is once per app, for
# ever: a database started afresh must not meet the ids of an earlier one).
_TASK = re.compile(r"wb([0-9]{1,18})-[0-9a-f]{8}")
ELLIPSIS = "…"
CHANNEL = "wecom"  # the channel's name (its traits, its outbox rows and identities)


def task_id(row_id: int) -> str:
    """A new task id for a card of outbox row ``row_id``."""
    return f"wb{row_id}-{secrets.token_hex(4)}"


def row_of(task: str) -> int | None:
    """The outbox row a task id of ours names; None for any other."""
    found = _TASK.fullmatch(task)
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Text:
    """One text message (its content within WeCom's bytes)."""

    content: str


@dataclass(frozen=True, slots=True)
class Card:
    """One button_interaction card: its words and at most six buttons."""

    title: str
    desc: str
    sub: str
    buttons: tuple[Button, ...]

    def payload(self, task: str) -> dict[str, Any]:
        """The ``template_card`` WeCom takes, under task id ``task``."""
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": {"title": self.title, **({"desc": self.desc} if self.desc else {})},
            "task_id": task,
            "button_list": [
                {"text": _cut(b.label, BUTTON_CHARS), "style": 1, "key": b.data}
                for b in self.buttons
            ],
        }
        if self.sub:
            card["sub_title_text"] = self.sub
        return card


Part = Text | Card


def parts_of(text: str, buttons: Sequence[Sequence[Button]]) -> list[Part]:
    """What a message is sent as: without buttons, its text in as many pieces as its bytes need;
    with them, cards of six buttons at most (the text on the first; the whole text before it,
    as a text, when the card would cut it)."""
    flat = [b for row in buttons for b in row]
    if not flat:
        return [Text(piece) for piece in pieces(text)]
    first = card_of(text, flat[:MAX_BUTTONS])
    found: list[Part] = []
    if _cut_short(text):
        found += [Text(piece) for piece in pieces(text)]
    found.append(first)
    rest = [flat[i : i + MAX_BUTTONS] for i in range(MAX_BUTTONS, len(flat), MAX_BUTTONS)]
    for number, more in enumerate(rest, start=2):
        title = _cut(f"{first.title} ({number}/{len(rest) + 1})", TITLE_CHARS)
        found.append(Card(title, "", "", tuple(more)))
    return found


def card_of(text: str, buttons: Sequence[Button]) -> Card:
    """A card: its first line the title; a short last paragraph (the status a card's update
    adds) the title's note; the rest below, cut to what a card shows."""
    head, body, tail = _split(text)
    return Card(
        _cut(head, TITLE_CHARS) or "📋",
        tail,
        _cut(body, SUB_CHARS),
        tuple(buttons[:MAX_BUTTONS]),
    )


def update_payload(
    *, userid: str, agent_id: int, code: str, task: str, text: str, buttons: Sequence[Button]
) -> dict[str, Any]:
    """``update_template_card``'s body: the card as it reads now, under its task; with no
    buttons, its buttons replaced by ``text`` (what was done) and made unpressable."""
    body: dict[str, Any] = {"userids": [userid], "agentid": agent_id, "response_code": code}
    if buttons:
        body["template_card"] = card_of(text, buttons).payload(task)
    else:
        body["button"] = {"replace_name": _cut(text, BUTTON_CHARS) or "✓"}
    return body


def pieces(text: str) -> list[str]:
    """``text`` in pieces of at most WeCom's bytes, cut between lines where one can be."""
    found: list[str] = []
    current = ""
    for line in (text or " ").split("\n"):
        joined = f"{current}\n{line}" if current else line
        if _size(joined) <= MAX_TEXT_BYTES:
            current = joined
            continue
        if current:
            found.append(current)
        while _size(line) > MAX_TEXT_BYTES:  # one line longer than a message: cut inside it
            head = _fit(line, MAX_TEXT_BYTES)
            found.append(head)
            line = line[len(head) :]
        current = line
    found.append(current)
    return [piece for piece in found if piece.strip()] or [" "]


def _split(text: str) -> tuple[str, str, str]:
    """(first line, the rest, its short last paragraph) of a card's text."""
    head, _, rest = text.strip().partition("\n")
    body, _, tail = rest.rpartition("\n\n")
    if not body or "\n" in tail or len(tail) > DESC_CHARS:
        return head.strip(), rest.strip(), ""
    return head.strip(), body.strip(), tail.strip()


def _cut_short(text: str) -> bool:
    """Whether a card would not show all of ``text``."""
    head, body, _ = _split(text)
    return len(head) > TITLE_CHARS or len(body) > SUB_CHARS


def _cut(text: str, chars: int) -> str:
    """``text`` in at most ``chars`` characters, an ellipsis ending it when cut."""
    return text if len(text) <= chars else text[: chars - 1] + ELLIPSIS


def _size(text: str) -> int:
    return len(text.encode())


def _fit(text: str, size: int) -> str:
    """The longest start of ``text`` within ``size`` bytes (never half a character)."""
    return text.encode()[:size].decode(errors="ignore")
