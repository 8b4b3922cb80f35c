"""The tables: the directory (communities, people, categories, routing), cases, events, outbox.

Times are aware UTC datetimes (SQLModel stores and returns them so). Enumerated values are stored
as their string values so the database stays readable without the code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from core.buttons import Button


class Community(SQLModel, table=True):
    """A residential community with its "我来办" workstation."""

    __tablename__ = "community"

    id: str = Field(primary_key=True, max_length=64)
    name_zh: str
    name_en: str
    sms_number: str | None = Field(default=None, unique=True, max_length=20)
    buildings: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = True


class Person(SQLModel, table=True):
    """Anyone the bot knows: residents, managers, supervisors, staff."""

    __tablename__ = "person"

    id: str = Field(primary_key=True, max_length=64)
    name: str
    role: str = Field(max_length=16)
    language: str | None = Field(default=None, max_length=2)
    supervisor_id: str | None = Field(default=None, max_length=64)
    community_id: str | None = Field(default=None, max_length=64)
    building: str | None = None
    active: bool = True
    # "directory" for people the directory file owns; residents met on a channel are not
    # touched (nor deactivated) by a directory load.
    source: str = Field(default="directory", max_length=16)


class Identity(SQLModel, table=True):
    """A person's address on one channel (a chat id, a phone number): one per person and channel,
    one person per address; ``reachable`` until the channel says they cannot be reached there."""

    __tablename__ = "channel_identity"

    __table_args__ = (
        UniqueConstraint("channel", "address", name="uq_identity_address"),
        UniqueConstraint("person_id", "channel", name="uq_identity_person_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    reachable: bool = True
    # The channel the person asked to be reached on first (before the registry's order).
    preferred: bool = False
    # Who made it: "directory" (the file owns it), "invite", or the channel a stranger wrote on.
    source: str = Field(default="directory", max_length=16)
    updated_at: datetime


class CommunityStaff(SQLModel, table=True):
    """Staff members of a community (digests, last escalation level)."""

    __tablename__ = "community_staff"

    community_id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, max_length=64)


class Category(SQLModel, table=True):
    """A kind of problem, with its keywords and service-level overrides."""

    __tablename__ = "category"

    id: str = Field(primary_key=True, max_length=64)
    name_zh: str
    name_en: str
    keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    # Overrides in directory-file form ("48h", true): parsed by core.policy when used.
    overrides: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    position: int = 0
    active: bool = True


class RoutingRule(SQLModel, table=True):
    """(community, category) -> manager; the first rule by position wins."""

    __tablename__ = "routing_rule"

    position: int = Field(primary_key=True)
    community: str = Field(max_length=64)
    category: str = Field(max_length=64)
    manager_id: str = Field(max_length=64)


class Setting(SQLModel, table=True):
    """Directory-wide values: timezone, default service levels, escalation chain."""

    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(default=None, sa_type=JSON)


class Case(SQLModel, table=True):
    """One resident's problem, from report to rating; ``number`` is what people see as #n."""

    __tablename__ = "cases"

    # The sweep asks for open cases by due time: (status, next_due_at) answers it from the index
    # alone (SQLite's planner would otherwise take the status index and sort).
    __table_args__ = (
        Index("ix_cases_next_due_at", "next_due_at"),
        Index("ix_cases_status_next_due_at", "status", "next_due_at"),
    )

    number: int | None = Field(default=None, primary_key=True)
    status: str = Field(index=True, max_length=16)
    community_id: str = Field(index=True, max_length=64)
    category_id: str = Field(max_length=64)
    location: str = ""
    description: str = ""
    channel: str = Field(max_length=16)
    resident_id: str = Field(index=True, max_length=64)
    manager_id: str | None = Field(default=None, index=True, max_length=64)
    escalation_level: int = 0
    reopen_count: int = 0
    reminders_sent: int = 0
    rating: str | None = Field(default=None, max_length=24)
    duplicate_of: int | None = None
    ack_due_at: datetime
    resolve_due_at: datetime
    # The one timer the scheduler sweeps: when this case next needs the clock's attention.
    next_due_at: datetime | None = None
    created_at: datetime = Field(index=True)
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime


class CaseEvent(SQLModel, table=True):
    """The audit trail: every change of a case, who made it and through which channel."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_number: int = Field(index=True, foreign_key="cases.number")
    at: datetime
    kind: str = Field(index=True, max_length=24)  # /metrics counts by kind
    actor_id: str | None = Field(default=None, max_length=64)
    channel: str = Field(max_length=16)
    note: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class CasePhoto(SQLModel, table=True):
    """A photo of a case: a channel's own reference to it (a Telegram file id) or its bytes."""

    __tablename__ = "case_photo"
    __table_args__ = (UniqueConstraint("case_number", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    case_number: int = Field(index=True, foreign_key="cases.number")
    position: int  # the order the resident sent them in, from 0
    source: str = Field(max_length=16)  # the channel it came by (whose reference file_id is)
    # A Telegram file id is re-sendable by the same bot to any chat, with no download.
    file_id: str | None = Field(default=None, max_length=256)
    # Fetched images (MMS media, an Open311 media_url) are kept here, checked to be images.
    content: bytes | None = Field(default=None, sa_type=LargeBinary)
    content_type: str = Field(default="image/jpeg", max_length=32)
    size: int | None = None  # bytes, where known
    created_at: datetime


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


class Invite(SQLModel, table=True):
    """A one-time Telegram deep-link code binding a chat to a person."""

    __tablename__ = "invite"

    code: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(index=True, max_length=64)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class Draft(SQLModel, table=True):
    """A conversation in progress (a guided report, a reason asked for), kept across restarts."""

    __tablename__ = "draft"

    chat: str = Field(primary_key=True, max_length=64)  # "telegram:<chat id>" or "sms:<phone>"
    person_id: str = Field(max_length=64)
    flow: str = Field(max_length=24)  # what is being asked: "report", "rate_reason", ...
    step: str = Field(max_length=24)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime


class Open311Key(SQLModel, table=True):
    """An Open311 client's API key: only its SHA-256 is kept; ``communities`` empty means any;
    revoked keys stay (their name is on the events they filed)."""

    __tablename__ = "open311_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    key_hash: str = Field(unique=True, max_length=64)  # sha256 hex of the key
    communities: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime
    revoked_at: datetime | None = None


class Open311Post(SQLModel, table=True):
    """One POST a key made: the per-key rate limit counts these over a sliding minute."""

    __tablename__ = "open311_post"
    __table_args__ = (Index("ix_open311_post_key_at", "key_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key_id: int
    at: datetime


class Open311Request(SQLModel, table=True):
    """What a case filed through Open311 came with beyond the case itself (served back by GET)."""

    __tablename__ = "open311_request"

    case_number: int = Field(primary_key=True, foreign_key="cases.number")
    key_name: str = Field(max_length=64)
    lat: float | None = None
    long: float | None = None
    address_id: str | None = Field(default=None, max_length=100)
    account_id: str | None = Field(default=None, max_length=100)
    media_url: str | None = Field(default=None, max_length=2000)


class ConsoleLogin(SQLModel, table=True):
    """A one-time sign-in link to the staff console; only the token's hash is kept."""

    __tablename__ = "console_login"

    token_hash: str = Field(primary_key=True, max_length=64)  # sha256 hex of the token
    person_id: str = Field(index=True, max_length=64)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A signed-in console session: the cookie names it (signed), this row is the truth."""

    __tablename__ = "console_session"

    id_hash: str = Field(primary_key=True, max_length=64)  # sha256 hex of the session id
    person_id: str = Field(index=True, max_length=64)
    csrf: str = Field(max_length=64)
    language: str = Field(default="zh", max_length=2)
    created_at: datetime
    seen_at: datetime


# The console's list of a community's cases by status, and of the cases a manager acted on: from
# an index (declared here, after the tables, so the tables above stay as they were).
Index(
    "ix_cases_community_status_number",
    Case.__table__.c.community_id,  # type: ignore[attr-defined]
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.number,  # type: ignore[attr-defined]
)
Index(
    "ix_case_event_actor_case",
    CaseEvent.__table__.c.actor_id,  # type: ignore[attr-defined]
    CaseEvent.__table__.c.case_number,  # type: ignore[attr-defined]
)
