"""The guided report's confirm press, as PTB hands it to the handlers: filed by the writer when
it can be, by the general path when not — either way the case is opened once, the press is
answered after the commit, and the outbox is woken. Telegram is faked at PTB's request seam."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, func, select

from bot.services.talk.drafts import CONFIRM
from bot.services.unit.context import ServiceContext
from db.models import Case, CasePhoto, Draft
from tests.services.guided import at_confirm
from tests.telegram.test_answers import FakeBotApi, handled

USER_ID = 880000301


def _press(update_id: int, user_id: int) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "居民", "language_code": "zh"}
    query = {"id": f"q{update_id}", "from": user, "chat_instance": "1", "data": CONFIRM}
    return {"update_id": update_id, "callback_query": query}


async def _pressed(ctx: ServiceContext, *updates: dict[str, Any]) -> tuple[FakeBotApi, int]:
    """Hand ``updates`` to the handlers; the Bot API they spoke to, and how often they kicked
    the outbox."""
    kicks: list[None] = []
    api = await handled(ctx, *updates, kick=lambda: kicks.append(None))
    return api, len(kicks)


async def _cases(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Case))).one())


async def test_the_press_is_filed_by_the_writer_answered_and_kicks_the_outbox(
    loaded: ServiceContext,
) -> None:
    ctx, writer = loaded, loaded.db.writer
    assert writer is not None
    await at_confirm(ctx, str(USER_ID), "楼道灯坏了，晚上看不见")
    before = writer.batches
    api, kicks = await _pressed(ctx, _press(9001, USER_ID))
    assert writer.batches == before + 1  # filed by the writer
    assert api.answers() == [{"callback_query_id": "q9001"}]  # no alert: it went in
    assert kicks == 1
    assert await _cases(ctx) == 1
    # Telegram delivers it again: answered the same, nothing filed twice.
    api, kicks = await _pressed(ctx, _press(9001, USER_ID))
    assert api.answers() == [{"callback_query_id": "q9001"}]
    assert kicks == 0  # a replay wakes nothing (as every replayed update)
    assert await _cases(ctx) == 1
    async with ctx.db.reading() as session:
        assert not (await session.exec(select(Draft))).all()


async def test_a_draft_the_writer_does_not_take_is_filed_by_the_general_path(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    await at_confirm(ctx, str(USER_ID), "楼道灯坏了，晚上看不见", photo="AgACAgIAAxkBAAIBphoto")
    api, kicks = await _pressed(ctx, _press(9002, USER_ID))
    assert api.answers() == [{"callback_query_id": "q9002"}]
    assert kicks == 1
    assert await _cases(ctx) == 1
    async with ctx.db.reading() as session:
        [photo] = (await session.exec(select(CasePhoto).order_by(col(CasePhoto.id)))).all()
    assert photo.file_id == "AgACAgIAAxkBAAIBphoto"
