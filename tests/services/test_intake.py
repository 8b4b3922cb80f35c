"""The SMS report's hot path writes what the general path writes — the case, its events, the
sender, every outbox row — and hands anything else to the general path untouched."""

from __future__ import annotations

import re

import pytest
from sqlmodel import func, select

from bot.services.cases import lifecycle
from bot.services.intake import sms as intake
from bot.services.intake.arrival import NotHot
from bot.services.talk import messages
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.inbound import Inbound
from bot.sms.handler import InboundSms, handle_sms
from core.clean import MAX_DESCRIPTION
from db.models import Case
from tests.conftest import Clock
from tests.services.written import written

TO = "+8610690000003"  # the example's yuanxiang community
TEXTS = ("楼道灯坏了，晚上看不见", "垃圾桶满了" + "很臭" * MAX_DESCRIPTION)


def _inbound(sid: str, phone: str, text: str) -> Inbound:
    return Inbound("sms", sid, address=phone, language="zh", language_guessed=True, wrote_in="zh")


@pytest.mark.parametrize("text", TEXTS, ids=["short", "cut"])
async def test_the_hot_path_writes_what_the_general_path_writes(
    loaded: ServiceContext, clock: Clock, text: str
) -> None:
    ctx, writer = loaded, loaded.db.writer
    assert writer is not None
    general, hot = "+8613700000101", "+8613700000102"
    await messages.message(
        ctx,
        _inbound("SMgeneral", general, text),
        messages.Report(text, to_address=TO),
        text=text,
    )
    expected = await written(ctx, general)
    # The first report is withdrawn: an open case of the same kind would be offered to follow
    # (and that question is the general path's).
    async with ctx.db.reading() as session:
        first = (await session.exec(select(Case))).one()
    assert first.number is not None
    await lifecycle.cancel(ctx, number=first.number, actor=Actor(first.resident_id, "sms"))
    before = writer.batches
    answers = await intake.sms_report(ctx, _inbound("SMhot", hot, text), text, TO)
    assert writer.batches == before + 1  # it did go through the writer
    assert await written(ctx, hot) == expected
    assert len(answers) == (2 if text != TEXTS[0] else 1)
    assert re.search(r"#\d+", answers[-1])


async def test_a_redelivered_message_sid_makes_no_second_case_and_gets_the_same_answer(
    loaded: ServiceContext,
) -> None:
    message = InboundSms("SMsame", "+8613700000103", TO, "电梯门关不上")
    first = await handle_sms(loaded, message)
    again = await handle_sms(loaded, message)
    assert first == again
    assert re.search(r"#\d+", first[0])
    async with loaded.db.reading() as session:
        count = (await session.exec(select(func.count()).select_from(Case))).one()
    assert count == 1


async def test_what_the_hot_path_does_not_take_goes_the_general_way_with_nothing_written(
    loaded: ServiceContext,
) -> None:
    """A text to the bot's own number (no community's) is asked which community; the hot path
    refuses it before writing anything, so the receipt is the general path's."""
    await handle_sms(loaded, InboundSms("SMwarm", "+8613700000104", TO, "井盖松动"))
    with pytest.raises(NotHot):
        intake.job_for(loaded, _inbound("SMx", "+8613700000105", "井盖"), "井盖松动", "+86100")
    answer = await handle_sms(loaded, InboundSms("SMy", "+8613700000105", "+86100", "井盖松动"))
    assert answer  # asked which community, by the general path
    async with loaded.db.reading() as session:
        count = (await session.exec(select(func.count()).select_from(Case))).one()
    assert count == 1  # only the warm-up's case
