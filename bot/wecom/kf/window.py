"""WeChat's reply window, kept in table ``reply_window``: customer service may write to a resident
for 48 hours after their last message, at most 5 messages — per customer-service account, so a
row's address is "<open_kfid>/<external_userid>" and a resident is answered from the account they
last wrote to. Sends reserve their place in the window before they are made (one instance's send
cannot push another's past the 5), and give it back when WeCom did not take them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select

from bot.delivery.results import release_waiting
from bot.services.unit.context import ServiceContext
from db import queries
from db.models import ReplyWindow

CHANNEL = "wechat"
WINDOW = timedelta(hours=48)
WINDOW_MESSAGES = 5
_TABLE = cast(Table, ReplyWindow.__table__)  # type: ignore[attr-defined]


def window_key(open_kfid: str, external_userid: str) -> str:
    """The reply window's address: the account and the resident."""
    return f"{open_kfid}/{external_userid}"


async def record_inbound(
    ctx: ServiceContext, open_kfid: str, external_userid: str, at: datetime
) -> None:
    """The resident wrote at ``at``: their window with this account opens anew (an older message
    read late changes nothing), and what waited for them is due now."""
    key = window_key(open_kfid, external_userid)
    async with ctx.db.transaction() as session:
        dialect = session.get_bind().dialect.name
        insert = queries.insert_ignoring(dialect, ReplyWindow).values(
            channel=CHANNEL, address=key, last_inbound_at=at, sent_since=0
        )
        await session.exec(insert.on_conflict_do_nothing(index_elements=["channel", "address"]))
        newer = and_(
            _TABLE.c.channel == CHANNEL,
            _TABLE.c.address == key,
            _TABLE.c.last_inbound_at <= at,  # two in one second: each opens it anew
        )
        await session.exec(update(_TABLE).where(newer).values(last_inbound_at=at, sent_since=0))
        await release_waiting(session, channel=CHANNEL, address=external_userid, now=ctx.clock())


async def reserve(ctx: ServiceContext, external_userid: str, count: int) -> str | None:
    """Take ``count`` places in the resident's open window; the account to send from, or None
    when their window is closed (48 hours past, or too few of its 5 messages left)."""
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        newest = (
            select(ReplyWindow.address)
            .where(
                col(ReplyWindow.channel) == CHANNEL,
                col(ReplyWindow.address).endswith(f"/{external_userid}", autoescape=True),
            )
            .order_by(col(ReplyWindow.last_inbound_at).desc())
            .limit(1)
        )
        key = (await session.exec(newest)).first()
        if key is None:
            return None
        open_window = and_(
            _TABLE.c.channel == CHANNEL,
            _TABLE.c.address == key,
            _TABLE.c.last_inbound_at > now - WINDOW,
            _TABLE.c.sent_since + count <= WINDOW_MESSAGES,
        )
        taken = await session.exec(
            update(_TABLE).where(open_window).values(sent_since=_TABLE.c.sent_since + count)
        )
        return str(key).partition("/")[0] if _rowcount(taken) == 1 else None


async def give_back(ctx: ServiceContext, open_kfid: str, external_userid: str, count: int) -> None:
    """Places reserved for sends that WeCom did not take."""
    if count <= 0:
        return
    key = window_key(open_kfid, external_userid)
    async with ctx.db.transaction() as session:
        await session.exec(_GIVE_BACK, params={"key": key, "count": count})


async def close(ctx: ServiceContext, open_kfid: str, external_userid: str) -> None:
    """WeCom says the window is closed (95001): no more sends are tried in it."""
    key = window_key(open_kfid, external_userid)
    async with ctx.db.transaction() as session:
        await session.exec(
            update(_TABLE)
            .where(_TABLE.c.channel == CHANNEL, _TABLE.c.address == key)
            .values(sent_since=WINDOW_MESSAGES)
        )


def _rowcount(result: Any) -> int:
    """The rows an UPDATE matched."""
    return result.rowcount if isinstance(result, CursorResult) else 0


_GIVE_BACK = (
    update(_TABLE)
    .where(
        _TABLE.c.channel == CHANNEL,
        _TABLE.c.address == bindparam("key"),
        _TABLE.c.sent_since >= bindparam("count"),
    )
    .values(sent_since=_TABLE.c.sent_since - bindparam("count"))
)
