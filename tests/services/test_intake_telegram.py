"""The guided report's confirm press on the writer's hot path writes what the general path writes
— the case, its events, the sender, every outbox row, the draft gone — and hands anything else
to the general path untouched."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select

from bot.services.intake import press as intake_telegram
from bot.services.talk import guided, waiting
from bot.services.talk.drafts import CONFIRM
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import AlreadyHandled
from core.clean import MAX_DESCRIPTION
from db.models import Case, CasePhoto, Draft, InboundReceipt, OutboxMessage
from tests.services.guided import UPDATE, at_confirm, update
from tests.services.written import written

TEXTS = ("楼道灯坏了，晚上看不见", "垃圾桶满了" + "很臭" * MAX_DESCRIPTION)


async def _count(ctx: ServiceContext, model: type[Case] | type[InboundReceipt]) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


@pytest.mark.parametrize("text", TEXTS, ids=["short", "cut"])
async def test_the_confirm_press_writes_what_the_general_path_writes(
    loaded: ServiceContext, text: str
) -> None:
    ctx, writer = loaded, loaded.db.writer
    assert writer is not None
    general, hot = "880000101", "880000102"
    await at_confirm(ctx, general, text)
    await at_confirm(ctx, hot, text)
    assert await waiting.answer(ctx, update(general, press=True), choice=CONFIRM)
    before = writer.batches
    await intake_telegram.confirm(ctx, update(hot, press=True))
    assert writer.batches == before + 1  # it did go through the writer
    hot_rows, general_rows = await written(ctx, hot, UPDATE), await written(ctx, general, UPDATE)
    # The questions before the press are the general path's for both (and their buttons'
    # numbers read like case numbers to ``written``): what the press wrote is compared.
    for rows in (hot_rows, general_rows):
        rows["outbox"] = [r for r in rows["outbox"] if "'template': 'flow." not in r]
    assert hot_rows == general_rows
    templates = [row for row in hot_rows["outbox"] if "case.received" in row]
    assert templates, hot_rows["outbox"]  # the resident hears of their case
    assert any("report.description_cut" in row for row in hot_rows["outbox"]) == (text != TEXTS[0])
    async with ctx.db.reading() as session:
        assert not (await session.exec(select(Draft))).all()  # both drafts are gone
        [case, _] = (await session.exec(select(Case).order_by(col(Case.number)))).all()
    assert case.location == "3号楼二单元"


async def test_a_second_press_or_a_redelivery_makes_no_second_case(
    loaded: ServiceContext,
) -> None:
    user = "880000103"
    await at_confirm(ctx := loaded, user, TEXTS[0])
    press = update(user, press=True)
    await intake_telegram.confirm(ctx, press)
    receipts = await _count(ctx, InboundReceipt)
    with pytest.raises(intake_telegram.NotHot):
        await intake_telegram.confirm(ctx, press)  # Telegram delivered it again
    with pytest.raises(AlreadyHandled):
        await waiting.answer(ctx, press, choice=CONFIRM)  # where the handler sends it
    again = update(user, press=True)
    with pytest.raises(intake_telegram.NotHot):
        await intake_telegram.confirm(ctx, again)  # pressed twice: the draft is gone
    assert await _count(ctx, InboundReceipt) == receipts  # the refused units wrote nothing
    assert not await waiting.answer(ctx, again, choice=CONFIRM)  # nothing in progress
    assert await _count(ctx, Case) == 1


async def test_what_the_hot_path_does_not_take_goes_the_general_way_with_nothing_written(
    loaded: ServiceContext,
) -> None:
    """A draft with a photo, a confirm button of a draft that went back to an earlier step, a
    stranger's press: refused before anything is kept, each then the general path's."""
    ctx = loaded
    photo, stale, stranger = "880000104", "880000105", "880000106"
    await at_confirm(ctx, photo, TEXTS[0], photo="AgACAgIAAxkBAAIBfile")
    await at_confirm(ctx, stale, TEXTS[0])
    await guided.begin_report(ctx, update(stale))  # started again: at its first step
    receipts = await _count(ctx, InboundReceipt)
    for user in (photo, stale, stranger):
        with pytest.raises(intake_telegram.NotHot):
            await intake_telegram.confirm(ctx, update(user, press=True))
    assert await _count(ctx, InboundReceipt) == receipts
    assert await _count(ctx, Case) == 0
    async with ctx.db.reading() as session:
        assert len((await session.exec(select(Draft))).all()) == 2  # both drafts still there
    assert await waiting.answer(ctx, update(photo, press=True), choice=CONFIRM)
    assert await waiting.answer(ctx, update(stale, press=True), choice=CONFIRM)
    async with ctx.db.reading() as session:
        [case] = (await session.exec(select(Case))).all()  # the photo's; the stale one re-asked
        [kept] = (await session.exec(select(CasePhoto))).all()
        asked = (
            await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc()))
        ).first()
    assert kept.case_number == case.number
    assert kept.file_id == "AgACAgIAAxkBAAIBfile"
    assert asked is not None
    assert asked.template == "flow.ask_category"
