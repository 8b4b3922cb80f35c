"""Conversations and sign-ins in progress: invites, drafts (a question waiting), the console's
one-time links and sessions. A one-time code or session id is kept only as its hash."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel


def hashed(secret: str) -> str:
    """The stored form of a one-time code, token or session id: its sha256, in hex. A copy of
    the database (a backup, a dump) then opens no chat, console or session."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Invite(SQLModel, table=True):
    """A one-time Telegram deep-link code binding a chat to a person; only its hash is kept."""

    __tablename__ = "invite"

    code_hash: str = Field(primary_key=True, max_length=64)  # sha256 hex of the code
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
    seen_at: datetime  # the user's own last request (background refreshes do not count)
    expires_at: datetime  # the absolute end (CONSOLE_SESSION_HOURS after sign-in)
