"""Open311 API keys: made (shown once, kept as a SHA-256), listed, revoked, checked, and each
key's POSTs held to a sliding minute that every process shares (the rows are in the database)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.media.refusal import Refused
from bot.media.urls import target_of
from bot.services.unit.context import ServiceContext, ServiceRefusal
from db import open311 as store
from db import queries
from db.models import Open311Key, Open311Post

# The key may come in this header on every route: a query string ends up in proxies' logs.
KEY_HEADER = "x-api-key"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
WINDOW = timedelta(minutes=1)
PREFIX = "o311_"


@dataclass(frozen=True, slots=True)
class Key:
    """A valid key as a request sees it: its name and the communities it may use (none: any)."""

    id: int
    name: str
    communities: tuple[str, ...]

    def may_use(self, community_id: str) -> bool:
        """True when this key may file in and read community ``community_id``."""
        return not self.communities or community_id in self.communities


def given(headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The key in the ``X-Api-Key`` header, else in the ``api_key`` query argument ("": none)."""
    return (headers.get(KEY_HEADER) or query.get("api_key") or "").strip()


def digest(raw: str) -> str:
    """The SHA-256 (hex) a key is kept as: a leaked table gives no key away."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


async def create_key(ctx: ServiceContext, *, name: str, communities: list[str]) -> str:
    """Make key ``name`` limited to ``communities`` (none: any); the key, which is never shown
    again. Refuses a taken or malformed name and an unknown community."""
    if not NAME.match(name):
        raise ServiceRefusal("open311.key_bad_name", {"name": name})
    raw = PREFIX + secrets.token_urlsafe(32)
    async with ctx.db.transaction() as session:
        if await store.key_by_name(session=session, name=name) is not None:
            raise ServiceRefusal("open311.key_exists", {"name": name})
        for community_id in communities:
            if await queries.get_community(session=session, community_id=community_id) is None:
                raise ServiceRefusal("refused.unknown_community", {"community": community_id})
        session.add(
            Open311Key(
                name=name,
                key_hash=digest(raw),
                communities=sorted(set(communities)),
                created_at=ctx.clock(),
            )
        )
    return raw


def updates_url_refusal(url: str) -> ServiceRefusal | None:
    """Why ``url`` cannot be a key's updates endpoint (not a well-formed http(s) URL, or one
    with credentials in it), or None. Whether its address is public is checked at each POST."""
    try:
        target_of(url)
    except Refused as refused:
        return ServiceRefusal(
            "open311.key_bad_updates_url", {"url": url[:200], "why": str(refused)}
        )
    return None


async def set_updates(ctx: ServiceContext, *, name: str, url: str) -> str:
    """Push the steps of the requests key ``name`` files to ``url``, signed with a new secret:
    the secret, never shown again."""
    refusal = updates_url_refusal(url)
    if refusal is not None:
        raise refusal
    secret = secrets.token_hex(32)
    async with ctx.db.transaction() as session:
        key = await store.key_by_name(session=session, name=name, lock=True)
        if key is None:
            raise ServiceRefusal("open311.key_unknown", {"name": name})
        key.updates_url, key.updates_secret = url.strip(), secret
        session.add(key)
    return secret


async def list_keys(ctx: ServiceContext) -> list[Open311Key]:
    """Every key (the hashes are not for showing)."""
    async with ctx.db.reading() as session:
        return await store.all_keys(session=session)


async def revoke_key(ctx: ServiceContext, *, name: str) -> None:
    """Revoke key ``name`` from now on; refuses an unknown name (revoking twice is fine)."""
    async with ctx.db.transaction() as session:
        key = await store.key_by_name(session=session, name=name, lock=True)
        if key is None:
            raise ServiceRefusal("open311.key_unknown", {"name": name})
        if key.revoked_at is None:
            key.revoked_at = ctx.clock()
            session.add(key)


async def check_key(ctx: ServiceContext, raw: str) -> Key | Open311Key | None:
    """The valid key ``raw`` is, its revoked row when it was revoked, or None when unknown."""
    async with ctx.db.reading() as session:
        row = await store.key_by_hash(session=session, key_hash=digest(raw))
    if row is None or row.revoked_at is not None:
        return row
    assert row.id is not None
    return Key(row.id, row.name, tuple(row.communities))


async def take_post(ctx: ServiceContext, key: Key, *, per_minute: int) -> float | None:
    """Count one POST of ``key``: None when it is within ``per_minute`` over the last minute,
    else the seconds until the oldest one leaves the window (nothing is counted then)."""
    async with ctx.db.transaction() as session:
        now = ctx.clock()
        await store.lock_key(session=session, key_id=key.id)
        recent = await store.posts_since(session=session, key_id=key.id, since=now - WINDOW)
        if len(recent) >= per_minute:
            return max((recent[len(recent) - per_minute] + WINDOW - now).total_seconds(), 0.001)
        session.add(Open311Post(key_id=key.id, at=now))
    return None
