"""Several cases at once from the console's list: each handed to another manager or closed by the
bot's own use case (``lifecycle``, channel ``web``) in a transaction of its own — all or nothing
per case, and one case's refusal stops none of the others — with what happened to each. A close
may send one of the ticked cases' categories' saved replies: each resident reads it in their own
language."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases import lifecycle
from bot.services.staff import replies
from bot.services.staff.listing import PAGE_SIZE, Viewer, visible
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from core.cases import Action, Channel
from core.directory import Reply
from db.directory_cache import directory
from db.models import Case

MAX_CASES = PAGE_SIZE  # what one page of the list can select
BULK_ACTIONS = (Action.REASSIGN, Action.CLOSE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one case: done; the same form's case done (or refused) before; or refused,
    with the use case's own refusal (nothing of that case changed)."""

    number: int
    done: bool
    again: bool = False
    refusal: ServiceRefusal | None = None


@dataclass(frozen=True, slots=True)
class Offered:
    """A category's saved close replies, offered for the ticked cases of that category: its
    name and the replies' texts in the reader's language, and which of the cases are its."""

    category_id: str
    name: str
    numbers: tuple[int, ...]
    texts: tuple[str, ...]


async def _ticked(session: AsyncSession, viewer: Viewer, numbers: Sequence[int]) -> list[Case]:
    """The cases of ``numbers`` (at most a page of them) that ``viewer`` may see, by number."""
    wanted = list(dict.fromkeys(numbers))[:MAX_CASES]
    query = select(Case).where(col(Case.number).in_(wanted), visible(viewer))
    return list((await session.exec(query.order_by(col(Case.number)))).all())


async def close_replies(
    ctx: ServiceContext, viewer: Viewer, *, numbers: Sequence[int], language: str
) -> list[Offered]:
    """The saved close replies of the ticked cases' categories (those with any), in the
    directory's order of categories, for the bulk close to offer."""
    async with ctx.db.reading() as session:
        ticked = await _ticked(session, viewer, numbers)
        known = await directory(session)
        found: list[Offered] = []
        for category in known.active_categories():
            theirs = tuple(c.number or 0 for c in ticked if c.category_id == category.id)
            texts = await replies.replies_for(
                session, category_id=category.id, action=Action.CLOSE.value, language=language
            )
            if theirs and texts:
                name = category.name_en if language == "en" else category.name_zh
                found.append(Offered(category.id, name, theirs, tuple(texts)))
    return found


async def chosen_reply(
    ctx: ServiceContext, viewer: Viewer, *, numbers: Sequence[int], choice: str
) -> Reply | None:
    """The saved close reply a bulk close chose (``<category>:<index>``, one of ``close_replies``
    for the same cases); None for a choice that names none of them."""
    category_id, _, index = choice.strip().rpartition(":")
    if not (index.isascii() and index.isdigit() and len(index) < 3):
        return None
    async with ctx.db.reading() as session:
        ticked = await _ticked(session, viewer, numbers)
        if category_id not in {c.category_id for c in ticked}:
            return None
        found = await replies.kept(session, category_id=category_id, action=Action.CLOSE.value)
    return found[int(index)] if int(index) < len(found) else None


async def act_on_cases(
    ctx: ServiceContext,
    viewer: Viewer,
    *,
    numbers: Sequence[int],
    request: lifecycle.Request,
    form_id: str,
    reply: Reply | None = None,
) -> list[Outcome]:
    """``request`` (a reassignment or a close) on each of ``numbers`` in turn by ``viewer``, as
    the case page would take it: a case the reader may not see is refused as one that does not
    exist; a form sent twice (``form_id``) acts once on each case. With ``reply`` (a close's
    saved reply), each case's note is that reply in its resident's language, and the request's
    own note after it."""
    if request.action not in BULK_ACTIONS:
        raise ValueError(f"not a bulk action: {request.action}")
    wanted = list(dict.fromkeys(numbers))[:MAX_CASES]
    async with ctx.db.reading() as session:
        seen = {case.number: case for case in await _ticked(session, viewer, wanted)}
        languages = {
            number: await replies.resident_language(session, case, ctx.default_language)
            for number, case in seen.items()
            if reply is not None
        }
    actor, form = Actor(viewer.person_id, Channel.WEB), _form(form_id)
    found: list[Outcome] = []
    for number in wanted:
        if number not in seen:  # as if it did not exist, like the case page's 404
            missing = ServiceRefusal("refused.no_such_case", {"number": number})
            found.append(Outcome(number, done=False, refusal=missing))
            continue
        # One receipt per case of the form: a form sent again acts on none of them twice.
        inbound = Inbound(Channel.WEB, f"{form}:{number}")
        asked = request
        if reply is not None:  # what this case's resident reads, in their language
            asked = replace(request, note=replies.as_sent(reply, languages[number], request.note))
        try:
            await lifecycle.act(ctx, number=number, actor=actor, request=asked, inbound=inbound)
        except AlreadyHandled:
            found.append(Outcome(number, done=False, again=True))
        except ServiceRefusal as refused:
            found.append(Outcome(number, done=False, refusal=refused))
        else:
            found.append(Outcome(number, done=True))
    return found


def _form(form_id: str) -> str:
    """The form's own id when usable (room left for ``:<number>`` in a receipt's 64 characters),
    else a fresh one: such a form acts each time it is sent."""
    usable = 8 <= len(form_id) <= 40 and form_id.isascii() and form_id.isprintable()
    return form_id if usable else secrets.token_urlsafe(16)
