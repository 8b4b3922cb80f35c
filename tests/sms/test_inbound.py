"""Texts one at a time: per-sender limits, answers by SMS, the community question, opt-out."""

from __future__ import annotations

from sqlmodel import col, func, select

from bot.services.unit.context import ServiceContext
from core.texts import render
from db.models import Case, Draft, OptOut, OutboxMessage
from tests.conftest import Clock
from tests.sms.conftest import Texter

FROM_NUMBER = "+8610690000099"  # the bot's own number: no community's
NOTICE = render("zh", "limits.slow_down")


async def _cases(ctx: ServiceContext) -> list[Case]:
    async with ctx.db.reading() as session:
        return list((await session.exec(select(Case).order_by(col(Case.number)))).all())


async def _outbox(ctx: ServiceContext, template: str) -> list[OutboxMessage]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.template == template)
        return list((await session.exec(query)).all())


async def test_five_reports_in_ten_minutes_then_one_notice_then_silence(
    texts: Texter, loaded: ServiceContext, clock: Clock
) -> None:
    phone = "+8613700000031"
    for n in range(1, 6):
        [answer] = await texts(phone, f"{n}号楼门口垃圾没人清")
        assert f"#{n}" in answer
    assert await texts(phone, "6号楼门口垃圾没人清") == [NOTICE]
    assert await texts(phone, "7号楼门口垃圾没人清") == []
    assert await texts(phone, "路灯也坏了") == []
    assert len(await _cases(loaded)) == 5
    [status] = await texts(phone, "查询")  # only new reports are held back
    assert status == "诉求 #5（环境卫生）：已派单。"

    clock.advance(minutes=10)
    [answer] = await texts(phone, "8号楼门口垃圾没人清")
    assert "#6" in answer
    for _ in range(4):
        await texts(phone, "还有垃圾")
    assert await texts(phone, "又有垃圾") == []  # noticed once this hour already
    assert len(await _cases(loaded)) == 10
    assert len(await _outbox(loaded, "limits.slow_down")) == 1


async def test_thirty_messages_an_hour_then_one_notice_then_silence(
    texts: Texter, loaded: ServiceContext, clock: Clock
) -> None:
    phone, other = "+8613700000032", "+8613700000033"
    no_case = render("zh", "sms.no_case")
    for _ in range(30):
        assert await texts(phone, "查询") == [no_case]
    assert await texts(phone, "查询") == [NOTICE]
    assert await texts(phone, "帮助") == []
    assert await texts(phone, "5号楼长椅坏了") == []
    assert await _cases(loaded) == []
    assert await texts(other, "查询") == [no_case]  # per sender: the others go on

    clock.advance(hours=1)
    [answer] = await texts(phone, "5号楼长椅坏了")
    assert "#1" in answer


async def test_a_retry_is_not_counted_against_the_sender(texts: Texter) -> None:
    phone = "+8613700000034"
    [first] = await texts(phone, "查询", sid="SM" + "0" * 32)
    for _ in range(40):
        assert await texts(phone, "查询", sid="SM" + "0" * 32) == [first]
    assert await texts(phone, "查询") == [first]


async def test_answers_go_by_sms_to_people_who_also_have_telegram(
    texts: Texter, loaded: ServiceContext
) -> None:
    resident, manager = "+8613900000003", "+8613800000012"  # 吕先生 (4003), 郑经理 (2002)
    assert await texts(resident, "查询") == [render("zh", "sms.no_case")]
    assert await texts(resident, "帮助") == [render("zh", "sms.help")]
    [received] = await texts("+8613900000002", "72号楼后面的建筑垃圾没人清", to="+8610690000002")
    assert "#1" in received
    assert await texts(manager, "A1") == ["好的，诉求 #1 现为「处理中」。"]
    async with loaded.db.reading() as session:
        answers = (
            await session.exec(
                select(OutboxMessage.channel).where(
                    col(OutboxMessage.template).in_(["sms.no_case", "sms.help", "sms.updated"])
                )
            )
        ).all()
    assert list(answers) == ["sms", "sms", "sms"]


async def test_the_community_question_takes_a_number_from_its_list(
    texts: Texter, loaded: ServiceContext
) -> None:
    phone, other = "+8613700000035", "+8613700000036"
    [asked] = await texts(phone, "小区北门的路灯坏了", to=FROM_NUMBER)
    assert asked.splitlines()[0] == "请回复您所在社区的序号："
    assert asked.splitlines()[1] == "1 碧桂园北区社区"  # 1 is also a rating: not here
    [opened] = await texts(phone, "1", to=FROM_NUMBER)
    assert opened.startswith("已收到您的诉求 #1（设施损坏，碧桂园北区社区）")

    await texts(other, "楼下有人乱停车", to=FROM_NUMBER)
    [again] = await texts(other, "就在5号楼下", to=FROM_NUMBER)  # not a number: asked again
    assert again.startswith("请回复您所在社区的序号")
    [opened] = await texts(other, "５。", to=FROM_NUMBER)  # full width, as phones type it
    assert opened.startswith("已收到您的诉求 #2（其他，原香小镇社区）")  # still in Chinese

    cases = await _cases(loaded)
    assert [(c.community_id, c.description) for c in cases] == [
        ("bgy-north", "小区北门的路灯坏了"),
        ("yuanxiang", "就在5号楼下"),
    ]
    async with loaded.db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(Draft))).one() == 0


async def test_unsubscribe_words_and_start(texts: Texter, loaded: ServiceContext) -> None:
    phone = "+8613700000037"
    for word in ("TD", "退订", "Unsubscribe", "stop!"):
        [answer] = await texts(phone, word)
        assert answer in (render("zh", "sms.opted_out"), render("en", "sms.opted_out"))
        async with loaded.db.reading() as session:
            assert await session.get(OptOut, phone) is not None
        assert await texts(phone, "START") in (
            [render("zh", "sms.opted_in")],
            [render("en", "sms.opted_in")],
        )
        async with loaded.db.reading() as session:
            assert await session.get(OptOut, phone) is None
