"""The cases' tables: a case, its events (the audit trail) and its photos."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


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
    # The directory's building the location names ("" when none): what makes a new report "the
    # same problem" as an open case, with community, category and the follow window.
    building: str = Field(default="", max_length=64)
    description: str = ""
    channel: str = Field(max_length=16)
    resident_id: str = Field(index=True, max_length=64)
    manager_id: str | None = Field(default=None, index=True, max_length=64)
    escalation_level: int = 0
    reopen_count: int = 0
    reminders_sent: int = 0
    rating: str | None = Field(default=None, max_length=24)
    duplicate_of: int | None = None
    followers: int = 0  # residents following it (its own reporter not counted)
    # A question to the reporter waiting for their next message: who asked it, and when (the
    # question itself is the ``asked`` event's note). A reporter's own cases are few, so the
    # index on ``resident_id`` finds it.
    asked_by: str | None = Field(default=None, max_length=64)
    asked_at: datetime | None = None
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


class CaseFollower(SQLModel, table=True):
    """A resident following a case they did not report: they hear its steps on their channel.

    ``via_case`` is the case a merge brought them from (its reporter or follower), so undoing
    that merge takes back exactly those it brought.
    """

    __tablename__ = "case_follower"
    __table_args__ = (UniqueConstraint("case_number", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_number: int = Field(foreign_key="cases.number")
    person_id: str = Field(index=True, max_length=64)
    channel: str = Field(max_length=16)  # the channel they followed by
    via_case: int | None = None
    rating: str | None = Field(default=None, max_length=24)  # their latest feedback
    since: datetime


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


# The console's list of a community's cases by status, and of the cases a manager acted on: from
# an index (declared after the tables, so the tables stay as they were).
Index(
    "ix_cases_community_status_number",
    Case.__table__.c.community_id,  # type: ignore[attr-defined]
    Case.__table__.c.status,  # type: ignore[attr-defined]
    Case.__table__.c.number,  # type: ignore[attr-defined]
)
# The open cases a new report is offered to follow: same community and category, newest first
# within the window, of the same building where the report names one — one backward range scan
# for both shapes (the building is checked in the index; leading with it would leave a report
# that names none to a scan and a sort: bench/suggest.py).
Index(
    "ix_cases_suggest",
    Case.__table__.c.community_id,  # type: ignore[attr-defined]
    Case.__table__.c.category_id,  # type: ignore[attr-defined]
    Case.__table__.c.created_at,  # type: ignore[attr-defined]
    Case.__table__.c.building,  # type: ignore[attr-defined]
)
Index(
    "ix_case_event_actor_case",
    CaseEvent.__table__.c.actor_id,  # type: ignore[attr-defined]
    CaseEvent.__table__.c.case_number,  # type: ignore[attr-defined]
)
