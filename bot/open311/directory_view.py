"""The directory as describing cases needs it: names, the zone, the escalation chain."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import DEFAULT_CHAIN, zone
from db.directory_cache import directory

from .describe import Context


async def describing_context(session: AsyncSession, language: str) -> Context:
    """Names of communities and categories, the local zone and the chain, for ``language``."""
    snapshot = await directory(session)
    chain = snapshot.settings.get("escalation") or DEFAULT_CHAIN
    return Context(
        language=language,
        tz=await zone(session),
        communities=dict(snapshot.communities),
        categories=dict(snapshot.categories),
        chain=tuple(chain),
    )
