"""Buttons derived from a case's state, and the compact callback codec (≤ 64 ASCII bytes)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.cases import Action, CaseState, Rating, Relation, Status, allowed_actions

MAX_DATA_BYTES = 64

# Callback verbs as the contract spells them; the order is the order buttons are shown in.
VERBS: dict[Action, str] = {
    Action.ACKNOWLEDGE: "ack",
    Action.RESOLVE: "done",
    Action.DECLINE: "decline",
    Action.CANCEL: "cancel",
    Action.REASSIGN: "reassign",
    Action.REJECT: "reject",
    Action.CLOSE: "close",
    Action.ASK: "ask",
}
_ACTIONS = {verb: action for action, verb in VERBS.items()}
# ASCII only: without it ``\d`` also matches other scripts' digits ("ack:１２" would decode).
_DATA = re.compile(r"([a-z]+):(\d{1,18})(?::([A-Za-z0-9_.-]{1,40}))?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Button:
    """A button: its label (a catalog key, or with ``literal`` the text itself) and its data.

    Rendered for a reader (``in_language``), a button is literal; stored rows keep that form.
    """

    label: str
    data: str
    literal: bool = False

    def in_language(self, render: Callable[[str], str]) -> Button:
        """The button as its reader sees it: the label's catalog text through ``render``."""
        return self if self.literal else Button(render(self.label), self.data, literal=True)

    def stored(self) -> dict[str, str]:
        """The button as an outbox row keeps it (a rendered button)."""
        return {"text": self.label, "data": self.data}

    @classmethod
    def from_stored(cls, value: Mapping[str, str]) -> Button:
        """A button read back from an outbox row."""
        return cls(value["text"], value["data"], literal=True)


@dataclass(frozen=True, slots=True)
class Press:
    """Decoded callback data: an action on case ``number`` with an optional argument."""

    action: Action
    number: int
    arg: str | None = None


def encode(verb: str, number: int, arg: str | None = None) -> str:
    """Encode callback data, refusing anything over Telegram's 64-byte limit."""
    data = f"{verb}:{number}" if arg is None else f"{verb}:{number}:{arg}"
    if len(data.encode("ascii")) > MAX_DATA_BYTES:
        raise ValueError(f"callback data over {MAX_DATA_BYTES} bytes: {data!r}")
    return data


def decode(data: str) -> Press | None:
    """Decode callback data; None for anything malformed (never raises on user input)."""
    match = _DATA.fullmatch(data)
    if match is None:
        return None
    verb, number, arg = match.group(1), int(match.group(2)), match.group(3)
    if verb == "rate":
        return Press(Action.RATE, number, arg) if Rating.from_code(arg or "") else None
    action = _ACTIONS.get(verb)
    return Press(action, number, arg) if action is not None else None


def rating_buttons(number: int) -> list[list[Button]]:
    """The resident's three rating buttons, one row."""
    return [[Button(f"button.rate.{r.code}", encode("rate", number, r.code)) for r in Rating]]


def buttons_for(
    state: CaseState, relations: frozenset[Relation], number: int
) -> list[list[Button]]:
    """The buttons a person with ``relations`` should see on a case in ``state``."""
    # What the system may do (hand on a leaver's case) is never a person's button.
    allowed = set(allowed_actions(state, relations - {Relation.SYSTEM}))
    if state.status is not Status.ACKNOWLEDGED:
        # Asking the reporter is offered on the card once it is taken on (before, the question
        # is what the card itself asks); the console offers it whenever the case is open.
        allowed.discard(Action.ASK)
    if Action.RATE in allowed:
        return rating_buttons(number)
    row = [
        Button(f"button.{verb}", encode(verb, number))
        for action, verb in VERBS.items()
        if action in allowed and action is not Action.ASK
    ]
    # Asking the reporter is a step aside, not a step on: a row of its own, below the steps.
    aside = [[Button("button.ask", encode("ask", number))]] if Action.ASK in allowed else []
    return [row, *aside] if row else aside
