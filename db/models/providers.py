"""What a provider's API makes us keep between requests and across instances: an access token
shared by every instance, where we are in a message stream we pull, and the reply window of a
channel that may answer a person only for a while after they last wrote."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class ProviderToken(SQLModel, table=True):
    """An access token every instance uses; one instance at a time (the lease holder) fetches a
    new one before ``expires_at``, the others read it here."""

    __tablename__ = "provider_token"

    key: str = Field(primary_key=True, max_length=128)  # the provider and the credentials' id
    token: str = Field(default="", max_length=1024)
    expires_at: datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = None


class InboundCursor(SQLModel, table=True):
    """Where the next pull of a provider's message stream starts: advanced in the transaction
    that records what the pull brought, so nothing is read twice or skipped across restarts."""

    __tablename__ = "inbound_cursor"

    source: str = Field(primary_key=True, max_length=128)  # the channel and the stream's id
    cursor: str = Field(default="", max_length=256)
    updated_at: datetime


class ReplyWindow(SQLModel, table=True):
    """A person a channel may write to only for a while after their last message, and how many
    messages have gone to them since (the channel's traits say how long and how many)."""

    __tablename__ = "reply_window"

    channel: str = Field(primary_key=True, max_length=16)
    address: str = Field(primary_key=True, max_length=160)
    last_inbound_at: datetime
    sent_since: int = 0
