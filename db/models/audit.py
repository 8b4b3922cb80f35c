"""The audit of requests about a person's data: each export and erase, who asked and when, and
which person — by an opaque id or a hash, never by the data itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel


class DataAudit(SQLModel, table=True):
    """One export or erase of a person's data (``people export``, ``people erase``, the console,
    retention's anonymisation)."""

    __tablename__ = "data_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    kind: str = Field(max_length=16)  # "export", "erase", "anonymise"
    # The person: "erased-…" (the id an erase gave them) or "sha256:…" of the id they have (an id
    # met on a channel embeds a phone or a chat id); an erase rewrites the hashes of their id.
    person: str = Field(index=True, max_length=80)
    # Who asked: a person id (staff at the console), or None (the command line, the scheduler).
    actor_id: str | None = Field(default=None, max_length=64)
    actor_channel: str = Field(max_length=16)
    # What was done, in counts only (cases kept, photos deleted, …): never a text or an address.
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
