"""The way in and out: outbox messages and their statuses, delivery reports, the receipts of
inbound messages (handled once) and opted-out phones."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.buttons import Button


class OutboxStatus(StrEnum):
    """Where an outbox message stands; ``sending`` is claimed under a lease."""

    PENDING = "pending"
    SENDING = "sending"
    FAILED = "failed"  # tried and failed; tried again at ``next_attempt_at``
    SENT = "sent"
    DEAD = "dead"  # given up on
    SUPPRESSED = "suppressed"  # never sent: the address opted out
    SUPERSEDED = "superseded"  # never sent: a newer edit of the same card replaced it


WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED)
# ``WAITING`` as SQL, written once for the partial index and the claim alike: SQLite uses a partial
# index only for a query that repeats its WHERE term (literal values, not bound ones).
WAITING_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in WAITING))
EDITS_SQL = "edit_of IS NOT NULL"


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the change it tells of."""

    __tablename__ = "outbox"

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The claim's scan in id order: only the rows still waiting, so it does not grow with
        # the sent history, and a claim reads the oldest first without sorting every due row.
        Index(
            "ix_outbox_waiting",
            "channel",
            "id",
            sqlite_where=text(WAITING_SQL),
            postgresql_where=text(WAITING_SQL),
        ),
        # A card's edits (the claim's newer-edit check, a new edit superseding older ones); the
        # cards themselves, most rows, stay out of it.
        Index(
            "ix_outbox_edits",
            "edit_of",
            sqlite_where=text(EDITS_SQL),
            postgresql_where=text(EDITS_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=200)
    channel: str = Field(max_length=16)
    person_id: str | None = Field(default=None, max_length=64)
    address: str = Field(max_length=64)  # Telegram chat id or E.164 phone
    case_number: int | None = Field(default=None, index=True)
    template: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    language: str = Field(default="zh", max_length=2)
    text: str
    buttons: list[list[dict[str, str]]] = Field(default_factory=list, sa_type=JSON)
    photo: bytes | None = Field(default=None, sa_type=LargeBinary)  # a chart (PNG), with text
    # The case's photos it carries (``case_photo.position``): a card sent as a photo with its
    # text as the caption, or the album that goes before a card (a row with no text).
    photos: list[int] = Field(
        default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"}
    )
    urgent: bool = False
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str | None = None
    # An edit of an earlier message (the manager's case card): the row whose sent message to edit.
    edit_of: int | None = Field(default=None)
    provider_message_id: str | None = Field(default=None, max_length=64)
    # The process sending it ("host:pid") while status is "sending".
    claimed_by: str | None = Field(default=None, max_length=64)
    delivery_status: str | None = Field(default=None, max_length=16)
    # The inbound this message answers ("sms:<MessageSid>"): a channel that answers in its reply
    # (TwiML) takes these rows out, and a retried inbound gets the same answer again.
    reply_to: str | None = Field(default=None, index=True, max_length=80)
    created_at: datetime
    sent_at: datetime | None = None

    def button_rows(self) -> list[list[Button]]:
        """The stored buttons, as their reader sees them."""
        return [[Button.from_stored(b) for b in row] for row in self.buttons]


class DeliveryReport(SQLModel, table=True):
    """A provider's delivery report for a message whose send we have not recorded yet (the report
    overtook the provider's answer to us); applied when the send is recorded."""

    __tablename__ = "delivery_report"

    id: int | None = Field(default=None, primary_key=True)
    provider_message_id: str = Field(index=True, max_length=64)
    state: str = Field(max_length=16)
    error: str | None = Field(default=None, max_length=64)
    opted_out: bool = False
    received_at: datetime


class InboundReceipt(SQLModel, table=True):
    """Each inbound update (Telegram update_id, Twilio MessageSid) is recorded once."""

    __tablename__ = "inbound_receipt"

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_inbound_source_id"),
        Index("ix_inbound_sender_time", "sender", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    received_at: datetime
    # Who sent it, where the channel says (an SMS sender's phone): per-sender limits count these.
    sender: str | None = Field(default=None, max_length=32)


class OptOut(SQLModel, table=True):
    """A phone number that said STOP: no SMS goes to it until it says START."""

    __tablename__ = "opt_out"

    phone: str = Field(primary_key=True, max_length=20)
    at: datetime
    source: str = Field(default="sms", max_length=16)
