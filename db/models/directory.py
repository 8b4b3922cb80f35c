"""The directory's tables: communities, people and their addresses (identities), staff,
categories, routing rules and settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel


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
    """A kind of problem, with its keywords, service-level overrides and reply templates."""

    __tablename__ = "category"

    id: str = Field(primary_key=True, max_length=64)
    name_zh: str
    name_en: str
    keywords: list[str] = Field(default_factory=list, sa_type=JSON)
    # Overrides in directory-file form ("48h", true): parsed by core.policy when used.
    overrides: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Reply templates by action ("resolve", "close", "reject"), each a list of {zh, en}: the
    # directory file's ``replies``, only the actions that have some.
    replies: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
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
