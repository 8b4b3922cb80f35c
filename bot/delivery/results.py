"""What became of a claimed message: sent (the provider's id kept, a sign-in link's token wiped
from the stored copy), to be retried, or given up (the address marked unreachable and the text
queued on the person's next channel — or, where the channel only answers people who wrote and
they have no other, kept until they next write); a lease renewed while a send is still under
way."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import select as core_select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery.outcomes import Permanent
from bot.delivery.reports import Sent, opt_out, reconcile_sent
from bot.delivery.store import OUTBOX
from bot.services.unit import identities
from bot.services.unit.context import ServiceContext
from bot.services.unit.outbox import Outbox
from bot.services.unit.reach import FALLBACK, UNTIL_THEY_WRITE
from db import queries
from db.models import OutboxMessage, OutboxStatus
from db.statements import execute_many

# The messages carrying a one-time console sign-in link (bot/services/staff/signin.py): once the
# provider has one, the stored copy keeps the link without its token (only the person has it).
SIGN_IN_TEMPLATES = ("web.link", "web.link_sms")
_TOKEN = re.compile(r"(/console/login/)[A-Za-z0-9_-]+")
SCRUBBED = r"\1…"


@dataclass(frozen=True, slots=True)
class UntilTheyWrite(Permanent):
    """Not sent: the channel writes to a person only for a while after they last wrote, and that
    window has closed. The message goes by their next channel, or waits until they write."""

    unreachable: bool = True


async def renew_claims(ctx: ServiceContext, *, ids: Sequence[int], lease: timedelta) -> None:
    """Extend the lease of messages this process holds and has not sent yet."""
    if not ids:
        return
    await ctx.db.write(partial(_change, _RENEW, {"ids": sorted(ids), "until": ctx.clock() + lease}))


def _change(statement: Any, params: dict[str, Any], conn: Connection) -> None:
    """A Core unit of one UPDATE."""
    conn.execute(statement, params)


async def record_sent(ctx: ServiceContext, *, sent: Mapping[int, str]) -> None:
    """The provider accepted these messages (outbox id -> the provider's message id)."""
    if not sent:
        return
    await ctx.db.write(partial(_write_sent, sent=dict(sent), now=ctx.clock()))


def _write_sent(conn: Connection, *, sent: dict[int, str], now: datetime) -> None:
    """``record_sent`` as a Core unit: a constant number of statements whatever ``sent`` holds."""
    # A delivery report for one of these may be arriving right now: one waits for the other.
    queries.serialize_keys(conn, list(sent.values()))
    found = conn.execute(_SENT_ROWS, {"ids": sorted(sent)}).all()
    # An edit keeps pointing at the message it changed; the id is what the person has.
    rows = [
        {
            "row_id": row_id,
            "status": OutboxStatus.SENT,
            "sent_at": now,
            "last_error": None,
            "provider_message_id": sent[row_id],
        }
        for row_id, _, _, _ in found
    ]
    execute_many(conn, _SET_SENT, rows)
    links = [row_id for row_id, _, _, template in found if template in SIGN_IN_TEMPLATES]
    if links:  # rare (a sign-in): the statements of the common batch stay as they are
        _scrub(conn, links)
    done = {sent[i]: Sent(i, delivery, None, address) for i, delivery, address, _ in found}
    reconcile_sent(conn, done, now)


async def scrub_answered(ctx: ServiceContext, rows: Sequence[OutboxMessage]) -> None:
    """Wipe the sign-in links' tokens from answers a channel sent in its reply (TwiML), once
    that reply is built; nothing at all (no write) when none of ``rows`` carries one."""
    ids = sorted(r.id for r in rows if r.id is not None and r.template in SIGN_IN_TEMPLATES)
    if ids:
        await ctx.db.write(partial(_scrub, ids=ids))


def _scrub(conn: Connection, ids: list[int]) -> None:
    """The sign-in links of these sent rows lose their token, in the text and in the params."""
    changed = [
        {
            "row_id": row_id,
            "text": _TOKEN.sub(SCRUBBED, text),
            "params": {
                k: _TOKEN.sub(SCRUBBED, v) if isinstance(v, str) else v
                for k, v in (params or {}).items()
            },
        }
        for row_id, text, params in conn.execute(_LINK_ROWS, {"ids": ids}).all()
    ]
    if changed:  # an empty list would be an UPDATE without parameters: of every row
        conn.execute(_SET_SCRUBBED, changed)


async def record_retry(
    ctx: ServiceContext, *, message_id: int, at: datetime, error: str, count: bool
) -> None:
    """Try again at ``at``; ``count`` when it was a failure (a flood pause is not)."""
    params = {
        "row_id": message_id,
        "status": OutboxStatus.FAILED if count else OutboxStatus.PENDING,
        "more": 1 if count else 0,
        "next_attempt_at": at,
        "last_error": error,
    }
    await ctx.db.write(partial(_change, _RETRY, params))


async def record_dead(
    ctx: ServiceContext,
    *,
    message_id: int,
    error: str,
    unreachable: bool,
    opted_out: bool = False,
    waits: bool = False,
) -> OutboxMessage | None:
    """Give up on a message. ``unreachable``: the person cannot get messages on this channel
    (blocked the bot, the chat is gone) — mark their address so and queue the same text on the
    next channel of theirs that can reach them. ``opted_out``: the address unsubscribed —
    remember it, so nothing more is tried there. ``waits``: they cannot be reached here only
    until they next write — the message waits for that instead when they have no other
    channel, or when it answers what they did here."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return None
        row.status, row.last_error = (
            (OutboxStatus.SUPPRESSED if opted_out else OutboxStatus.DEAD),
            error,
        )
        session.add(row)
        if opted_out:
            await opt_out(session, row.address, now)
        # An answer to what they just did here waits for them here: they are talking here.
        if not unreachable or row.person_id is None or (waits and row.reply_to is not None):
            if waits:
                _wait(row)
            return None
        marked = await identities.mark_unreachable(
            session, person_id=row.person_id, channel=row.channel
        )
        person = await queries.get_person(session=session, person_id=row.person_id)
        if person is None or row.edit_of is not None or (row.photos and not row.text):
            return None  # an edit, or an album: nothing to say elsewhere (the card falls back)
        outbox = Outbox(session, now, ctx.default_language, ctx.channels)
        other = await outbox.address_of(person)
        if other is None or other.channel == row.channel:
            if waits:  # nowhere else: still theirs here, and the message waits for them
                await _still_reachable(session, row, marked)
                _wait(row)
            return None
        fallback = outbox.like(
            row,
            key=f"{row.idempotency_key}{FALLBACK}{other.channel}",
            channel=other.channel,
            address=other.address,
            person_id=person.id,
        )
        session.add(fallback)
        return fallback


def _wait(row: OutboxMessage) -> None:
    """Keep ``row`` until its reader next writes (``release_waiting`` makes it due)."""
    row.status, row.next_attempt_at, row.claimed_by = OutboxStatus.PENDING, UNTIL_THEY_WRITE, None


async def _still_reachable(session: AsyncSession, row: OutboxMessage, marked: bool) -> None:
    """Undo marking ``row``'s reader unreachable on its channel: what is said to them meanwhile
    is queued there too, and waits with this one."""
    if not marked or row.person_id is None:
        return
    identity = await queries.identity_of(
        session=session, person_id=row.person_id, channel=row.channel
    )
    if identity is not None:
        identity.reachable = True
        session.add(identity)


async def release_waiting(
    session: AsyncSession, *, channel: str, address: str, now: datetime
) -> None:
    """The person at ``address`` on ``channel`` wrote: the messages that waited for it are due."""
    params = {"to_channel": channel, "to_address": address, "due_at": now}
    await session.exec(_RELEASE, params=params)


# The statements, built once (the writer compiles each once per dialect).
_BY_ID = OUTBOX.c.id == bindparam("row_id")
_SET_SENT = update(OUTBOX).where(_BY_ID)
_SENT_ROWS = core_select(
    OUTBOX.c.id, OUTBOX.c.delivery_status, OUTBOX.c.address, OUTBOX.c.template
).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
_LINK_ROWS = core_select(OUTBOX.c.id, OUTBOX.c.text, OUTBOX.c.params).where(
    OUTBOX.c.id.in_(bindparam("ids", expanding=True))
)
_SET_SCRUBBED = update(OUTBOX).where(_BY_ID)
_RENEW = (
    update(OUTBOX)
    .where(
        OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        OUTBOX.c.status == OutboxStatus.SENDING.value,
    )
    .values(next_attempt_at=bindparam("until", type_=OUTBOX.c.next_attempt_at.type))
)
_RETRY = update(OUTBOX).where(_BY_ID).values(attempts=OUTBOX.c.attempts + bindparam("more"))
_RELEASE = (
    update(OUTBOX)
    .where(
        OUTBOX.c.channel == bindparam("to_channel"),
        OUTBOX.c.address == bindparam("to_address"),
        OUTBOX.c.status == OutboxStatus.PENDING.value,
        OUTBOX.c.next_attempt_at >= UNTIL_THEY_WRITE,
    )
    .values(next_attempt_at=bindparam("due_at", type_=OUTBOX.c.next_attempt_at.type))
)
