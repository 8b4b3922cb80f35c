"""Open311's tables: API keys, the posts counted per key, and requests' tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel


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
    # The city's endpoint every step of the requests this key filed is POSTed to (the
    # servicerequestupdates extension's format), signed with ``updates_secret`` (HMAC-SHA256: the
    # receiver needs it in the clear to check, so it is kept as it is; shown once at creation).
    updates_url: str | None = Field(default=None, max_length=2000)
    updates_secret: str | None = Field(default=None, max_length=64)


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
