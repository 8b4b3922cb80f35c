"""A guided Telegram report played through the conversation's use cases up to its confirm
question, and the updates that carry it."""

from __future__ import annotations

import itertools

from sqlmodel import col, select

from bot.services.talk import guided, waiting
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from db.models import Draft

UPDATES = itertools.count(1)
UPDATE = r"telegram:u\d+"  # the inbound keys of the updates below


def update(user: str, *, press: bool = False) -> Inbound:
    """The next Telegram update from ``user`` (a press shows its refusals as an alert)."""
    return Inbound(
        "telegram",
        f"u{next(UPDATES)}",
        address=user,
        name="居民",
        language="zh",
        refusal_aside=press,
    )


async def at_confirm(ctx: ServiceContext, user: str, text: str, photo: str | None = None) -> None:
    """Play a stranger's guided report up to its confirm question (the general path)."""
    await guided.begin_report(ctx, update(user))
    for choice in ("r:category:1", "r:community:1"):
        assert await waiting.answer(ctx, update(user, press=True), choice=choice)
    assert await waiting.answer(ctx, update(user), text="3号楼二单元")
    assert await waiting.answer(ctx, update(user), text=text)
    if photo is not None:
        assert await waiting.answer(ctx, update(user), photo=photo)
    assert await waiting.answer(ctx, update(user, press=True), choice="r:photos:skip")
    async with ctx.db.reading() as session:
        draft = (await session.exec(select(Draft).where(col(Draft.chat).contains(user)))).one()
    assert draft.step == "confirm"
