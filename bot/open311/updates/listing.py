"""GET servicerequestupdates: every published step (``bot.services.cases.updates``) of every case of
the key's communities — whichever channel it came by: the city answers for the community, and a
client skips a request it does not know — whose time falls in the window, oldest first (by time,
then id), at most 1,000 or one page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.cases.updates import PUBLISHED
from bot.services.unit.context import ServiceContext
from db import open311 as store

from ..directory_view import describing_context
from ..params import Page
from .shape import update_fields

MAX_RESULTS = 1000  # as GET requests: the spec's 1,000 when no page is asked for


@dataclass(frozen=True, slots=True)
class Window:
    """Which updates: at ``start``..``end``, of the cases of ``communities`` (None: any)."""

    start: datetime
    end: datetime
    communities: tuple[str, ...] | None
    page: Page | None = None


async def find_updates(
    ctx: ServiceContext, window: Window, language: str, *, base_url: str
) -> list[dict[str, Any]]:
    """The updates ``window`` names, described in ``language``. A rating that did not close its
    case is no update (the reopening after it is): a page may then hold fewer than its size, but
    pages still neither repeat nor skip one."""
    page = window.page
    async with ctx.db.reading() as session:
        steps = await store.published_steps(
            session=session,
            kinds=PUBLISHED,
            start=window.start,
            end=window.end,
            communities=window.communities,
            offset=page.offset if page else 0,
            limit=page.size if page else MAX_RESULTS,
        )
        at = await describing_context(session, language)
    found = (update_fields(event, case, at, base_url=base_url) for event, case in steps)
    return [update for update in found if update is not None]
