"""Asking a one-message question: the draft that waits for its answer, and the message with its
choices as buttons — or numbered, on a plain-text channel, where a reply "2" picks the second."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.services.talk import drafts, follow
from bot.services.unit.context import Unit
from core.buttons import Button
from db.models import Person

RESOLVE_NOTE = "resolve_note"  # "已办好": which reply goes to the resident (``resolving``)
ASK_RESIDENT = "ask_resident"  # "问居民": the question for the reporter
# Each question's message, by its flow.
TEMPLATES = {
    "rate_reason": "flow.ask_rate_reason",
    "reject_reason": "flow.ask_reject_reason",
    "close_reason": "flow.ask_close_reason",
    "reassign": "flow.ask_reassign",
    "community": "flow.ask_community",
    "which_case": "flow.ask_which_case",
    follow.FLOW: "follow.ask",
    RESOLVE_NOTE: "flow.ask_resolve_note",
    ASK_RESIDENT: "flow.ask_question",
}


def _abandon(flow: str) -> list[Button]:
    return [Button("button.flow.abandon", f"{drafts.PREFIX}{flow}:x")]


async def ask(
    unit: Unit,
    person: Person,
    flow: str,
    data: dict[str, Any],
    *,
    labels: Sequence[str] = (),
    extra: Sequence[Button] = (),
    reask: bool = False,
    numbered: str | None = None,
    per_row: int = 2,
) -> None:
    """Ask ``flow``'s question: its choices as buttons (``per_row`` to a row), or numbered on a
    plain-text channel (``numbered``: the lines that number them, when not "1 label")."""
    assert unit.inbound is not None
    channel = unit.inbound.channel
    choices = drafts.choices(flow, list(labels), per_row=per_row)
    buttons = [*choices, [*extra, *_abandon(flow)]]
    await drafts.keep(
        unit, channel=channel, person_id=person.id, flow=flow, step=flow, data=data, buttons=buttons
    )
    template, params = TEMPLATES[flow], dict(data)
    if labels and unit.channels.plain_text(channel):
        template = f"{template}_numbered"
        lines = "\n".join(f"{i} {label}" for i, label in enumerate(labels, 1))
        params["choices"] = numbered if numbered is not None else lines
    await unit.outbox.tell(
        person, template, key=unit.key("flow"), params=params, buttons=buttons, reask=reask
    )
