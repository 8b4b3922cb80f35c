"""The seed's second story on both channels: reported and rated by SMS, handled on Telegram."""

from __future__ import annotations

from sqlmodel import col, select

from db.engine import Database
from db.models import Case, CaseEvent
from sandbox.harness import FROM_NUMBER
from tests.e2e.channels import both_channels

RESIDENT = "+8613900000002"  # 何女士, 碧桂园北区 building 72
BGY_NUMBER = "+8610690000002"  # the community's own SMS number
MANAGER, SUPERVISOR = 2002, 3002


async def test_construction_waste_reopened_then_satisfied(db: Database) -> None:
    async with both_channels(db) as run:
        tg, phone = run.telegram, run.twilio
        reply = await run.text(
            RESIDENT, BGY_NUMBER, "72号楼后侧建筑垃圾存放处清理不及时，还有人乱扔垃圾"
        )
        assert len(reply.messages) == 1
        assert "#1" in reply.messages[0]
        assert "建筑垃圾" in reply.messages[0]  # the category guessed from the keywords

        await run.until(lambda: len(tg.inbox(MANAGER)) == 1)
        card = tg.inbox(MANAGER)[0]
        await tg.user_presses(MANAGER, card, "ack:1")
        await tg.user_presses(MANAGER, card, "done:1")
        # the rating request goes out by SMS, with the reply codes
        await run.until(lambda: any("回复 1 满意" in m.body for m in phone.inbox(RESIDENT)))
        asked = [m for m in phone.inbox(RESIDENT) if "回复 1 满意" in m.body][-1]
        assert asked.from_ == FROM_NUMBER
        assert "#1" in asked.body

        reply = await run.text(RESIDENT, BGY_NUMBER, "不满意")
        assert "哪里还有问题" in reply.messages[0]
        reply = await run.text(RESIDENT, BGY_NUMBER, "只清了一半，监控也没调")
        assert any("重新交办" in m for m in reply.messages)
        await run.until(lambda: len(tg.inbox(SUPERVISOR)) >= 1)
        assert "#1" in tg.inbox(SUPERVISOR)[0].text  # reopened one level up
        await run.until(lambda: any("只清了一半" in m.text for m in tg.inbox(MANAGER)))
        reopened = next(m for m in tg.inbox(MANAGER) if "只清了一半" in m.text)
        assert reopened.button_data() == ["ack:1", "done:1", "decline:1"]

        await tg.user_presses(MANAGER, reopened, "ack:1")
        await tg.user_presses(MANAGER, reopened, "done:1")
        await run.until(lambda: sum("回复 1 满意" in m.body for m in phone.inbox(RESIDENT)) == 2)
        reply = await run.text(RESIDENT, BGY_NUMBER, "1")
        assert any("已办结" in m for m in reply.messages)

    async with db.reading() as session:
        case = (await session.exec(select(Case))).one()
        kinds = (await session.exec(select(CaseEvent.kind).order_by(col(CaseEvent.id)))).all()
    assert (case.status, case.rating, case.reopen_count, case.escalation_level) == (
        "closed",
        "satisfied",
        1,
        1,
    )
    assert case.channel == "sms"
    assert list(kinds) == [
        "reported",
        "routed",
        "acknowledged",
        "resolved",
        "rated",
        "reopened",
        "acknowledged",
        "resolved",
        "rated",
    ]


async def test_an_english_text_is_answered_in_english(db: Database) -> None:
    async with both_channels(db) as run:
        reply = await run.text(
            "+8613900000077", "+8610690000005", "The streetlight by gate 3 is out"
        )
        assert reply.messages
        assert "We received your report #1" in reply.messages[0]
