"""A conversation's state between two messages: one draft row per person and channel."""

from __future__ import annotations

from typing import Any

from core.cases import Channel
from db.models import Draft

from .context import Unit


def chat_key(channel: Channel, person_id: str) -> str:
    """The draft key of a person on a channel."""
    return f"{channel.value}:{person_id}"


async def keep(
    unit: Unit, *, channel: Channel, person_id: str, flow: str, step: str, data: dict[str, Any]
) -> Draft:
    """The person's draft on ``channel``, made or overwritten with this flow, step and data."""
    chat = chat_key(channel, person_id)
    row = await unit.session.get(Draft, chat)
    if row is None:
        row = Draft(
            chat=chat, person_id=person_id, flow=flow, step=step, data=data, updated_at=unit.now
        )
    row.flow, row.step, row.data, row.updated_at = flow, step, data, unit.now
    unit.session.add(row)
    return row
