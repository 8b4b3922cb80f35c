"""The guided report's confirm press on the writer's hot path: the draft's owner presses
"confirm", and the case it describes is opened in the single writer's next group commit.

The unit reads and deletes the draft in one ``DELETE … RETURNING`` (two presses of the same
button cannot both take it), reads it with the guided report's own ``stored``/``advance``/
``submitted`` and ends in ``opening.open_report``, the SMS report's own end: the rows are the
general path's (``waiting.answer`` → ``guided.report_step`` → ``open_case``). Anything else — a
replay, an unknown or retired sender, a sender past a limit, no draft or one not at its confirm
step, a draft with photos, a community or category gone, a directory loaded since — raises
``NotHot``, the unit's savepoint rolls back (its receipt too) and the press takes the general
path.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import Connection
from sqlmodel import col

from bot.services.intake.arrival import Arrival, NotHot, admit, arrival, known_sender, within_limits
from bot.services.intake.opening import open_report
from bot.services.talk.drafts import chat_key
from bot.services.talk.guided import REPORT_FLOW, stored, submitted
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from core import report_flow as flow
from db.models import Draft
from db.statements import execute

__all__ = ["NotHot", "confirm", "write_confirm"]


async def confirm(ctx: ServiceContext, inbound: Inbound) -> None:
    """File the sender's guided report through the writer; returns once it is committed
    (``NotHot``: nothing written, the general path takes the press)."""
    came = arrival(ctx, inbound)
    await ctx.db.write(partial(write_confirm, came=came))


def write_confirm(conn: Connection, came: Arrival) -> None:
    """Open the case the sender's draft describes, and drop the draft."""
    memo = admit(conn, came)
    person = known_sender(conn, came)
    if person is None:
        raise NotHot()  # a stranger has no draft: the general path meets them
    within_limits(conn, came, person, new=False)
    taken = execute(conn, _DRAFT_TAKEN, {"chat": chat_key(came.inbound.channel, person.id)})
    if not taken:
        raise NotHot()  # nothing in progress (pressed twice, or cancelled)
    [(kind, step, data)] = taken
    if kind != REPORT_FLOW or step != flow.Step.CONFIRM.value:
        raise NotHot()  # a button of an earlier question: the general path asks again
    draft, options = stored(cast(dict[str, Any], data))
    outcome = flow.advance(draft, options, flow.Signal.CONFIRM)
    if not outcome.submitted or outcome.draft is None:
        raise NotHot()
    open_report(conn, memo, came, person, submitted(outcome.draft, came.inbound.channel))


_TABLE = cast(Table, Draft.__table__)  # type: ignore[attr-defined]
_DRAFT_TAKEN = (
    _TABLE.delete()
    .where(col(Draft.chat) == bindparam("chat"))
    .returning(col(Draft.flow), col(Draft.step), col(Draft.data))
)
