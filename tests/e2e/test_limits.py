"""Per-sender limits are one rule for every channel's residents: a Telegram account and a phone
are each stopped after the same number of cases, with one polite notice, then silence."""

from __future__ import annotations

import asyncio

from sqlmodel import col, func, select

from bot.sms.handler import InboundSms, handle_sms
from core.texts import render
from db.models import Case, OutboxMessage
from sandbox.twilio import new_sid
from tests.e2e.conftest import Running

RESIDENT = 4001  # 李大爷, Telegram
PHONE = "+8613700000077"
YUANXIANG_NUMBER = "+8610690000003"
NOTICE = render("zh", "limits.slow_down")


async def _count(running: Running, query: object) -> int:
    async with running.ctx.db.reading() as session:
        return int((await session.exec(query)).one())  # type: ignore[call-overload]


async def test_a_telegram_account_and_a_phone_stop_at_the_same_number_of_cases(
    running: Running,
) -> None:
    allowed = running.ctx.limits.cases
    for n in range(allowed):
        await running.report(RESIDENT, f"第{n + 1}次：驿站门口的快递又堆满了")
    assert (await running.say(RESIDENT, "/report")).text == NOTICE
    await running.telegram.user_says(RESIDENT, "/report")
    await asyncio.sleep(1.0)
    assert running.telegram.inbox(RESIDENT)[-1].text == NOTICE  # silence after the notice

    answers = []
    for n in range(allowed + 2):
        message = InboundSms(new_sid("SM"), PHONE, YUANXIANG_NUMBER, f"{n + 1}号楼门口垃圾没人清")
        answers.append(await handle_sms(running.ctx, message))
    assert all(f"#{n}" in " ".join(a) for n, a in enumerate(answers[:allowed], allowed + 1))
    assert answers[allowed:] == [[NOTICE], []]

    by_channel = select(Case.channel, func.count()).group_by(col(Case.channel))
    async with running.ctx.db.reading() as session:
        counts = dict((await session.exec(by_channel)).all())
    assert counts == {"telegram": allowed, "sms": allowed}
    notices = select(func.count()).where(OutboxMessage.template == "limits.slow_down")
    assert await _count(running, notices) == 2  # one each
