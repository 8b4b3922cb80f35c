"""A conversation's state between two messages (one draft row per person and channel), and the
pieces every conversation shares."""

from __future__ import annotations

import uuid
from typing import Any

from core.cases import Channel
from db import queries
from db.models import Draft, Person

from .context import Inbound, ServiceRefusal, Unit

PREFIX = "r:"  # flow buttons: ``r:<step>:<value>``


def parse_choice(data: str) -> tuple[str, str] | None:
    """Split flow button data ``r:<step>:<value>``; None for anything else."""
    parts = data.split(":")
    return (parts[1], parts[2]) if len(parts) == 3 and data.startswith(PREFIX) else None


async def person_in(unit: Unit, person_id: str) -> Person:
    """The active person answering; anyone else is refused."""
    person = await queries.get_person(session=unit.session, person_id=person_id)
    if person is None or not person.active:
        raise ServiceRefusal("refused.not_entitled")
    return person


def key_of(unit: Unit, inbound: Inbound | None) -> str:
    """The outbox key of what this step says (a replayed update says nothing twice)."""
    return f"flow:{inbound.source}:{inbound.external_id}" if inbound else f"flow:{uuid.uuid4()}"


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


def pairs(items: list[Any]) -> list[list[Any]]:
    """Buttons two to a row."""
    return [items[i : i + 2] for i in range(0, len(items), 2)]
