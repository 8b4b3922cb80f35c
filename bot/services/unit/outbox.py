"""The outbox writer: renders a message in each recipient's language and queues it where they are
reached — on the channel the registry puts first among theirs, or, for an answer to the inbound
being handled, back where they wrote from.

Rows are written in the caller's transaction, so a message exists exactly when the change it tells
of was committed; the idempotency key makes a repeated step write nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.inbound import Inbound
from bot.services.unit.reach import CAPTION_ROOM, MAX_ALBUM, language_of, localize, reach
from bot.services.unit.traits import ChannelBook
from core.buttons import Button
from core.texts import render
from db import queries
from db.models import Case, Identity, OutboxMessage, OutboxStatus, Person


def _message_key(key: str, person: Person, template: str) -> str:
    """The idempotency key of telling ``person`` ``template`` for ``key``."""
    return f"{key}:{person.id}:{template}"


@dataclass(slots=True)
class Outbox:
    """Queues messages for people within one transaction."""

    session: AsyncSession  # a hot path's outbox has none: it only composes (``compose``)
    now: datetime
    default_language: str
    book: ChannelBook
    # The inbound being handled and who sent it: what is said to that person answers it.
    inbound: Inbound | None = None
    sender_id: str | None = None
    _known: dict[str, list[Identity]] = field(default_factory=dict)
    # How a row is built: the writer's hot paths build untracked ones (``db/rows.py``).
    make: Callable[..., OutboxMessage] = OutboxMessage

    async def know(self, person_ids: Iterable[str]) -> None:
        """Read the addresses of these people in one query (before telling several of them)."""
        missing = sorted({i for i in person_ids if i not in self._known})
        if missing:
            found = await queries.identities(session=self.session, person_ids=missing)
            self.learn(missing, found)

    def learn(self, person_ids: Iterable[str], found: Mapping[str, list[Identity]]) -> None:
        """Hold these people's addresses as read (those with none have none)."""
        self._known.update({i: list(found.get(i, [])) for i in person_ids})

    def rolled_back(self) -> None:
        """The work was rolled back: what was read of addresses may no longer hold."""
        self._known.clear()

    def forget(self, person_id: str) -> None:
        """Read this person's addresses again at the next message (they changed)."""
        self._known.pop(person_id, None)

    async def address_of(self, person: Person, case: Case | None = None) -> Identity | None:
        """Where ``person`` is reached (a resident first on their case's channel)."""
        await self.know([person.id])
        first = case.channel if case is not None and person.id == case.resident_id else None
        return reach(self._known[person.id], self.book, first=first)

    async def _queued(self, idempotency_key: str) -> bool:
        """True when a message with this key was queued before (the step is being repeated)."""
        query = select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key)
        return (await self.session.exec(query)).first() is not None

    def _answers(self, person: Person) -> bool:
        """True when a message to ``person`` answers the inbound (they wrote on a channel that
        sends: they read the answer there)."""
        inbound = self.inbound
        return (
            inbound is not None
            and person.id == self.sender_id
            and inbound.channel in self.book.reach_order
        )

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
        reask: bool = False,
        photos: Sequence[int] = (),
    ) -> OutboxMessage | None:
        """Queue ``template`` for ``person``; None when they cannot be reached or it was queued.
        ``reask`` puts "please answer with the buttons" first; ``photos``: the positions of the
        case's photos that go with it, where the channel shows photos (``attach``)."""
        if person is None or not person.active:
            return None
        if not self._answers(person):
            await self.know([person.id])
        if self.destination(person, case) is None:
            return None
        if await self._queued(_message_key(key, person, template)):
            return None
        message = self.compose(
            person,
            template,
            key=key,
            case=case,
            params=params,
            buttons=buttons,
            urgent=urgent,
            reask=reask,
        )
        if message is not None:
            if photos and self.book.photos(message.channel):
                self.attach(message, photos)  # an album is added before its card
            self.session.add(message)
        return message

    def compose(
        self,
        person: Person,
        template: str,
        *,
        key: str,
        case: Case | None = None,
        params: Mapping[str, Any] | None = None,
        buttons: Sequence[Sequence[Button]] = (),
        urgent: bool = False,
        reask: bool = False,
    ) -> OutboxMessage | None:
        """The row that tells ``person`` ``template`` (their addresses known already, no I/O);
        None when they cannot be reached. Every outbox row of a message to a person is made
        here — by ``tell`` and by the writer's hot paths (``bot/services/intake.py``)."""
        where = self.destination(person, case)
        if where is None:
            return None
        channel, address, reply_to = where
        language = language_of(person, self.default_language)
        values = {name: localize(value, language) for name, value in (params or {}).items()}
        text = render(language, template, **values)
        if reask:
            text = f"{render(language, 'flow.reask')}\n{text}"
        message = self.row(
            key=_message_key(key, person, template),
            channel=channel,
            address=address,
            person_id=person.id,
            case_number=case.number if case is not None else None,
            template=template,
            params=dict(params or {}),
            language=language,
            text=text,
            buttons=buttons,
            urgent=urgent,
        )
        message.reply_to = reply_to
        if reply_to is not None and self.book.answers_in_reply(channel):
            # Its text goes back in the channel's answer to the inbound: it is sent as it is born.
            message.status, message.sent_at = OutboxStatus.SENT, self.now
        return message

    def attach(self, message: OutboxMessage, photos: Sequence[int]) -> None:
        """Let ``message`` carry the case's photos at ``photos`` (positions): as its own photo,
        its text the caption, when there is one and the text fits a caption with room for the
        status line its edits add; else as an album (or a lone photo) queued just before it."""
        positions = list(photos[:MAX_ALBUM])
        if len(positions) == 1 and len(message.text) <= CAPTION_ROOM:
            message.photos = positions
            return
        album = self.like(
            message,
            key=f"{message.idempotency_key}:photos",
            template="case.photos",
            params={"count": len(positions)},
            text="",
            buttons=[],
        )
        album.photos = positions
        self.session.add(album)  # added first: the chat gets the photos, then the card

    def destination(
        self, person: Person, case: Case | None = None
    ) -> tuple[str, str, str | None] | None:
        """Where a message to ``person`` goes — (channel, address, the inbound it answers) — with
        their addresses known already; None when they cannot be reached."""
        if not person.active:
            return None
        if self._answers(person):
            assert self.inbound is not None
            return self.inbound.channel, self.inbound.address, self.inbound.key
        first = case.channel if case is not None and person.id == case.resident_id else None
        identity = reach(self._known.get(person.id, []), self.book, first=first)
        return (identity.channel, identity.address, None) if identity is not None else None

    async def edit(
        self, original: OutboxMessage, *, key: str, text: str, buttons: Sequence[Sequence[Button]]
    ) -> OutboxMessage | None:
        """Queue an edit of a message sent (or to be sent) before, in its reader's language; an
        older edit of it not sent yet is superseded (at most one waits per card: the newest)."""
        idempotency_key = f"{key}:edit:{original.id}"
        if await self._queued(idempotency_key):
            return None
        await self._supersede_edits(original)
        message = self.like(
            original,
            key=idempotency_key,
            template="card.edit",
            params={},
            text=text,
            buttons=buttons,
        )
        message.edit_of = original.id
        inbound = self.inbound
        if inbound is not None and original.person_id == self.sender_id:
            # the card of the person who acted, moved by their action: the answer to it
            message.reply_to = inbound.key
        self.session.add(message)
        return message

    async def _supersede_edits(self, original: OutboxMessage) -> None:
        """Retire the card's edits still waiting: sent after this one, they would show the reader
        a status that no longer holds. One being sent now is left to finish; it goes before the
        new one (a chat's messages go in order) and the claim retires it should it be retried."""
        query = select(OutboxMessage).where(
            OutboxMessage.edit_of == original.id,
            col(OutboxMessage.status).in_((OutboxStatus.PENDING, OutboxStatus.FAILED)),
        )
        for older in (await self.session.exec(query)).all():
            older.status, older.last_error = OutboxStatus.SUPERSEDED, "a newer edit replaced it"
            self.session.add(older)

    def like(self, row: OutboxMessage, *, key: str, **changes: Any) -> OutboxMessage:
        """A new row to ``row``'s reader about ``row``'s case, as ``row`` but for ``changes``
        (``row``'s own parameters: template, params, text, buttons, channel, address …)."""
        fields: dict[str, Any] = {
            "channel": row.channel,
            "address": row.address,
            "person_id": row.person_id,
            "case_number": row.case_number,
            "template": row.template,
            "params": row.params,
            "language": row.language,
            "text": row.text,
            "buttons": row.button_rows(),
            "urgent": row.urgent,
        }
        return self.row(key=key, **(fields | changes))

    def row(
        self,
        *,
        key: str,
        channel: str,
        address: str,
        person_id: str | None,
        case_number: int | None,
        template: str,
        params: dict[str, Any],
        language: str,
        text: str,
        buttons: Sequence[Sequence[Button]],
        urgent: bool,
    ) -> OutboxMessage:
        """The one place an outbox row is made: due now, its buttons in the reader's language."""
        return self.make(
            idempotency_key=key,
            channel=channel,
            person_id=person_id,
            address=address,
            case_number=case_number,
            template=template,
            params=params,
            language=language,
            text=text,
            buttons=[
                [b.in_language(lambda k: render(language, k)).stored() for b in row]
                for row in buttons
                if row
            ],
            urgent=urgent,
            # Given, not defaulted: a ``default_factory`` makes pydantic inspect ``list``'s
            # signature on every row (measured: 240 µs a row with it, 91 µs without).
            photos=[],
            next_attempt_at=self.now,
            created_at=self.now,
        )
