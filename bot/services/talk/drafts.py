"""A conversation's state between two messages (one draft row per person and channel), and the
pieces every conversation shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.services.unit.context import Unit
from core.buttons import Button
from core.report_flow import Step
from db.models import Draft

PREFIX = "r:"  # flow buttons: ``r:<step>:<value>``
CONFIRM = f"{PREFIX}{Step.CONFIRM.value}:ok"  # the guided report's last press: file it


def parse_choice(data: str) -> tuple[str, str] | None:
    """Split flow button data ``r:<step>:<value>``; None for anything else."""
    parts = data.split(":")
    return (parts[1], parts[2]) if len(parts) == 3 and data.startswith(PREFIX) else None


def choices(step: str, labels: list[str], *, per_row: int = 2) -> list[list[Button]]:
    """A question's choices as buttons, two to a row unless told (``r:<step>:<index>``), labels
    as given."""
    return [
        [Button(text, f"{PREFIX}{step}:{i}", literal=True) for i, text in row]
        for row in pairs(list(enumerate(labels)), per_row)
    ]


def picked(row: Draft, text: str) -> str | None:
    """A bare number answering a question with choices ("2", "２", "2。"): that choice's data."""
    digits = "".join(ch for ch in text if not ch.isspace()).rstrip("。.")
    if not digits.isdecimal():
        return None
    index = int(digits) - 1
    offered: list[str] = row.data.get("choices", [])
    return offered[index] if 0 <= index < len(offered) else None


def chat_key(channel: str, person_id: str) -> str:
    """The draft key of a person on a channel."""
    return f"{channel}:{person_id}"


async def keep(
    unit: Unit,
    *,
    channel: str,
    person_id: str,
    flow: str,
    step: str,
    data: dict[str, Any],
    buttons: Sequence[Sequence[Button]] = (),
) -> Draft:
    """The person's draft on ``channel``, made or overwritten with this flow, step and data;
    the data of the question's choices is kept, so a plain-text reply "2" can pick one."""
    offered = [b.data for row in buttons for b in row if _is_choice(b.data)]
    data = {**data, "choices": offered} if offered else data
    chat = chat_key(channel, person_id)
    row = await unit.session.get(Draft, chat)
    if row is None:
        row = Draft(
            chat=chat, person_id=person_id, flow=flow, step=step, data=data, updated_at=unit.now
        )
    row.flow, row.step, row.data, row.updated_at = flow, step, data, unit.now
    unit.session.add(row)
    return row


def pairs(items: list[Any], size: int = 2) -> list[list[Any]]:
    """Buttons two (or ``size``) to a row."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _is_choice(data: str) -> bool:
    """A flow button that picks one of a question's choices (not cancel, skip or confirm)."""
    parsed = parse_choice(data)
    return parsed is not None and parsed[1].isdigit()


async def current(unit: Unit, channel: str, person_id: str) -> Draft | None:
    """The draft in progress for this person on this channel, if any."""
    return await unit.session.get(Draft, chat_key(channel, person_id))
