"""Several cases at once from the console's list: each handed to another manager or closed by the
bot's own use case (``lifecycle``, channel ``web``) in a transaction of its own — all or nothing
per case, and one case's refusal stops none of the others — with what happened to each."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.staff.listing import PAGE_SIZE, Viewer, visible
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from core.cases import Action, Channel
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


async def act_on_cases(
    ctx: ServiceContext,
    viewer: Viewer,
    *,
    numbers: Sequence[int],
    request: lifecycle.Request,
    form_id: str,
) -> list[Outcome]:
    """``request`` (a reassignment or a close) on each of ``numbers`` in turn by ``viewer``, as
    the case page would take it: a case the reader may not see is refused as one that does not
    exist; a form sent twice (``form_id``) acts once on each case."""
    if request.action not in BULK_ACTIONS:
        raise ValueError(f"not a bulk action: {request.action}")
    wanted = list(dict.fromkeys(numbers))[:MAX_CASES]
    async with ctx.db.reading() as session:
        query = select(Case.number).where(col(Case.number).in_(wanted), visible(viewer))
        seen = set((await session.exec(query)).all())
    actor, form = Actor(viewer.person_id, Channel.WEB), _form(form_id)
    found: list[Outcome] = []
    for number in wanted:
        if number not in seen:  # as if it did not exist, like the case page's 404
            missing = ServiceRefusal("refused.no_such_case", {"number": number})
            found.append(Outcome(number, done=False, refusal=missing))
            continue
        # One receipt per case of the form: a form sent again acts on none of them twice.
        inbound = Inbound(Channel.WEB, f"{form}:{number}")
        try:
            await lifecycle.act(ctx, number=number, actor=actor, request=request, inbound=inbound)
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
