"""Reply templates: what a category's staff and managers may send the resident when they resolve,
close or reject a case (the directory file's ``replies``), offered in the reader's language and
sent in the resident's. Read by the console's action forms and by Telegram's "已办好" question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import ServiceContext
from bot.services.unit.reach import language_of
from core.directory import REPLY_ACTIONS, Reply
from db import queries
from db.directory_cache import directory
from db.models import Case, Person

# A form's field naming the chosen template by its place in the list (the text is never posted:
# what the resident receives is the directory's own words).
FIELD = "template"
TYPED = "reason"  # the action forms' own note, which follows a chosen template


async def kept(session: AsyncSession, *, category_id: str, action: str) -> list[Reply]:
    """The category's replies for ``action``, in the file's order ([] for none)."""
    row = (await directory(session)).categories.get(category_id)
    if row is None or action not in REPLY_ACTIONS:
        return []
    return [Reply.model_validate(entry) for entry in row.replies.get(action, [])]


async def replies_for(
    session: AsyncSession, *, category_id: str, action: str, language: str
) -> list[str]:
    """The texts of the category's replies for ``action`` in ``language``."""
    found = await kept(session, category_id=category_id, action=action)
    return [reply.text(language) for reply in found]


async def offered(ctx: ServiceContext, *, category_id: str, language: str) -> dict[str, list[str]]:
    """Every action's replies for a case page (``reply_templates``, which its forms' partial
    reads): action -> texts in the reader's ``language``; actions without replies left out."""
    async with ctx.db.reading() as session:
        found = {
            action: await replies_for(
                session, category_id=category_id, action=action, language=language
            )
            for action in REPLY_ACTIONS
        }
    return {action: texts for action, texts in found.items() if texts}


async def resident_language(session: AsyncSession, case: Case, default: str) -> str:
    """The language the case's reporter reads (a reply is sent in it)."""
    resident = await session.get(Person, case.resident_id) if case.resident_id else None
    return language_of(resident, default)


def as_sent(reply: Mapping[str, Any] | Reply, language: str, typed: str = "") -> str:
    """A chosen reply as the note the resident reads: its text in their language, and what was
    written with it on the next line."""
    text = (reply if isinstance(reply, Reply) else Reply.model_validate(reply)).text(language)
    typed = typed.strip()
    return f"{text}\n{typed}" if typed else text


async def with_template(
    ctx: ServiceContext, *, number: int, fields: Mapping[str, str]
) -> dict[str, str] | None:
    """A posted action form with its chosen template (``template=<index>``) turned into the
    note (``reason``) the resident receives; the form as it was when none was chosen (or the case
    is not there: the action itself says so); None for a choice that names no reply (a bad form).
    """
    chosen = fields.get(FIELD, "").strip()
    if not chosen:
        return dict(fields)
    action = fields.get("action", "")
    if not (chosen.isascii() and chosen.isdigit() and len(chosen) < 3):
        return None
    async with ctx.db.reading() as session:
        case = await queries.get_case(session=session, number=number)
        if case is None:
            return dict(fields)
        found: Sequence[Reply] = await kept(session, category_id=case.category_id, action=action)
        language = await resident_language(session, case, ctx.default_language)
    index = int(chosen)
    if index >= len(found):
        return None
    return {**fields, TYPED: as_sent(found[index], language, fields.get(TYPED, ""))}
