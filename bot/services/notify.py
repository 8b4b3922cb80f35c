"""The outbox writer: renders a message in each recipient's language and queues it on their channel.

Rows are written in the caller's transaction, so a message exists exactly when the change it tells
of was committed; the idempotency key makes a repeated step write nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.buttons import Button
from core.cases import Channel
from core.texts import normalize_language, render
from db.models import Case, OutboxMessage, Person


def language_of(person: Person | None, default: str) -> str:
    """The language a person reads: theirs from the directory or channel, else the default."""
    return normalize_language(person.language if person else None) or default


def address_of(person: Person, case: Case | None) -> tuple[Channel, str] | None:
    """Where to reach a person: the resident on the case's channel, others Telegram first."""
    telegram = (
        (Channel.TELEGRAM, str(person.telegram_id))
        if person.telegram_id is not None and not person.telegram_unreachable
        else None
    )
    sms = (Channel.SMS, person.phone) if person.phone else None
    if case is not None and person.id == case.resident_id and case.channel == Channel.SMS:
        return sms or telegram
    return telegram or sms


def localize(value: Any, language: str) -> Any:
    """Pick the language's variant of a ``{"zh": …, "en": …}`` parameter."""
    if isinstance(value, Mapping) and language in value:
        return value[language]
    return value


@dataclass(slots=True)
class Outbox:
    """Queues messages for people within one transaction."""

    session: AsyncSession
    now: datetime
    default_language: str

    async def _queued(self, idempotency_key: str) -> bool:
        """True when a message with this key was queued before (the step is being repeated)."""
        query = select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key)
        return (await self.session.exec(query)).first() is not None

    async def tell(
        self,
        person: Person | None,
        template: str,
        *,
        key: str,
        case: Case | None = None,
        params: Mapping[str, Any] | None = None,
        buttons: Sequence[Sequence[Button]] = (),
        urgent: bool = False,
    ) -> OutboxMessage | None:
        """Queue ``template`` for ``person``; None when they cannot be reached or it was queued."""
        specs = [[{"key": b.label, "data": b.data} for b in row] for row in buttons]
        return await self.ask(
            person, template, key=key, case=case, params=params, buttons=specs, urgent=urgent
        )

    async def ask(
        self,
        person: Person | None,
        template: str,
        *,
        key: str,
        case: Case | None = None,
        params: Mapping[str, Any] | None = None,
        buttons: Sequence[Sequence[Mapping[str, str]]] = (),
        urgent: bool = False,
        reask: bool = False,
    ) -> OutboxMessage | None:
        """Like ``tell``, with buttons as ``{"key": catalog key}`` or ``{"label": text}`` plus
        ``"data"``; ``reask`` puts "please answer with the buttons" first."""
        if person is None or not person.active:
            return None
        address = address_of(person, case)
        if address is None:
            return None
        idempotency_key = f"{key}:{person.id}:{template}"
        if await self._queued(idempotency_key):
            return None
        language = language_of(person, self.default_language)
        values = {name: localize(value, language) for name, value in (params or {}).items()}
        text = render(language, template, **values)
        if reask:
            text = f"{render(language, 'flow.reask')}\n{text}"
        message = OutboxMessage(
            idempotency_key=idempotency_key,
            channel=address[0].value,
            person_id=person.id,
            address=address[1],
            case_number=case.number if case is not None else None,
            template=template,
            params=dict(params or {}),
            language=language,
            text=text,
            buttons=[
                [
                    {
                        "text": b["label"] if "label" in b else render(language, b["key"]),
                        "data": b["data"],
                    }
                    for b in row
                ]
                for row in buttons
                if row
            ],
            urgent=urgent,
            next_attempt_at=self.now,
            created_at=self.now,
        )
        self.session.add(message)
        return message

    async def edit(
        self, original: OutboxMessage, *, key: str, text: str, buttons: Sequence[Sequence[Button]]
    ) -> OutboxMessage | None:
        """Queue an edit of a message sent (or to be sent) before, in its reader's language."""
        idempotency_key = f"{key}:edit:{original.id}"
        if await self._queued(idempotency_key):
            return None
        language = original.language
        message = OutboxMessage(
            idempotency_key=idempotency_key,
            channel=original.channel,
            person_id=original.person_id,
            address=original.address,
            case_number=original.case_number,
            template="card.edit",
            params={},
            language=language,
            text=text,
            buttons=[
                [{"text": render(language, b.label), "data": b.data} for b in row]
                for row in buttons
            ],
            urgent=original.urgent,
            edit_of=original.id,
            next_attempt_at=self.now,
            created_at=self.now,
        )
        self.session.add(message)
        return message
