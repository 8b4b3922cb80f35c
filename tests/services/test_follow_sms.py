"""Following by SMS (issue 23): a text that is an open case of the same community, category and
building is asked about with a numbered question — "1" follows the case (no new case, the holder
hears the words), the last number files a new one — and nothing is asked when nothing matches.
A follower's rating is feedback, and ``查询`` lists the cases they follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.intake import sms as intake
from bot.services.intake.arrival import NotHot
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.inbound import Inbound
from bot.sms.handler import InboundSms, handle_sms
from core.cases import Status
from core.sms import segments
from core.texts import render
from db.models import Case, CaseEvent, CaseFollower, Draft, Identity, OutboxMessage
from sandbox.twilio import new_sid
from tests.conftest import Clock

SOUTH = "+8610690000001"  # 嘉州水郡南区: buildings 172 and 173, 王经理 holds its cases
MANAGER = Actor("mgr-jzsj-south", "telegram")
FIRST, NEIGHBOUR = "+8613700000201", "+8613700000202"
PILED = "172号楼门口快递堆满了"
BOTS_OWN = "+8610690000099"  # no community's: the sender is asked which
Texter = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def text(loaded: ServiceContext, clock: Clock) -> Texter:
    """``await text(phone, body)``: a text to 嘉州水郡南区's number (or ``to``), ten minutes
    after the last."""

    async def send(phone: str, body: str, to: str = SOUTH) -> list[str]:
        clock.advance(minutes=10)
        return await handle_sms(loaded, InboundSms(new_sid("SM"), phone, to, body))

    return send


async def _cases(ctx: ServiceContext) -> list[Case]:
    async with ctx.db.reading() as session:
        return list((await session.exec(select(Case).order_by(col(Case.number)))).all())


async def _told(ctx: ServiceContext, person_id: str, template: str) -> list[OutboxMessage]:
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == person_id, OutboxMessage.template == template
        )
        return list((await session.exec(query)).all())


async def _person_at(ctx: ServiceContext, phone: str) -> str:
    async with ctx.db.reading() as session:
        [identity] = (await session.exec(select(Identity).where(Identity.address == phone))).all()
        return identity.person_id


async def test_answering_1_follows_the_open_case_and_its_holder_hears_the_words(
    text: Texter, loaded: ServiceContext
) -> None:
    [received] = await text(FIRST, PILED)
    assert received.startswith("已收到您的诉求 #1")

    [asked] = await text(NEIGHBOUR, "172号楼门口快递又堆满了，走不过去")
    assert asked.splitlines() == [
        "已有人反映同类问题、正在办理：",
        "回复 1 关注 #1 · 172号楼门口 · 已派单 · 10 分钟前 · 1 人关注",
        "回复 2 新建诉求。",
    ]
    assert segments(asked) <= 2
    assert len(await _cases(loaded)) == 1  # the hot path opened nothing

    followed = await text(NEIGHBOUR, "1")  # also a rating code: the question takes it
    assert followed[0].startswith("您已关注诉求 #1（快递堆放占道，172号楼门口），不会重复立案")
    [case] = await _cases(loaded)
    assert case.followers == 1
    [heard] = await _told(loaded, "mgr-jzsj-south", "case.commented")
    assert heard.text == "关注诉求 #1 的居民补充：172号楼门口快递又堆满了，走不过去"
    async with loaded.db.reading() as session:
        assert (await session.exec(select(Draft))).all() == []


async def test_answering_the_last_number_files_a_new_case_from_the_words_kept(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    [asked] = await text(NEIGHBOUR, "172号楼门口的快递车挡着路")
    assert asked.splitlines()[-1] == "回复 2 新建诉求。"
    [received] = await text(NEIGHBOUR, "2")
    assert received.startswith("已收到您的诉求 #2")
    cases = await _cases(loaded)
    assert [(c.category_id, c.building, c.description) for c in cases] == [
        ("parcels", "172", PILED),
        ("parcels", "172", "172号楼门口的快递车挡着路"),
    ]
    assert [c.followers for c in cases] == [0, 0]


async def test_words_instead_of_a_number_ask_again_and_join_the_report(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    await text(NEIGHBOUR, "172号楼门口快递又堆满了")
    [again] = await text(NEIGHBOUR, "老人推车过不去")  # more of the same thought
    assert again.splitlines()[0] == "已有人反映同类问题、正在办理："
    assert again.splitlines()[-1] == "回复 2 新建诉求。"
    await text(NEIGHBOUR, "1")
    [heard] = await _told(loaded, "mgr-jzsj-south", "case.commented")
    assert heard.text.endswith("172号楼门口快递又堆满了\n老人推车过不去")
    assert len(await _cases(loaded)) == 1


async def test_a_report_whose_community_was_asked_is_offered_the_open_case_too(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    [which] = await text(NEIGHBOUR, "172号楼门口快递又堆满了", to=BOTS_OWN)
    [south] = [line.split()[0] for line in which.splitlines() if line.endswith("嘉州水郡南区社区")]
    [asked] = await text(NEIGHBOUR, south, to=BOTS_OWN)
    assert asked.splitlines()[1].startswith("回复 1 关注 #1 · 172号楼门口")
    followed = await text(NEIGHBOUR, "1", to=BOTS_OWN)
    assert followed[0].startswith("您已关注诉求 #1")
    assert len(await _cases(loaded)) == 1


@pytest.mark.parametrize(
    ("later", "sender", "other"),
    [
        (0, NEIGHBOUR, "172号楼门口垃圾没人清"),  # another category (sanitation)
        (0, NEIGHBOUR, "173号楼门口快递堆满了"),  # another building
        (3 * 24 * 60, NEIGHBOUR, PILED),  # after the three-day window
        (0, FIRST, "172号楼门口快递还是堆满了"),  # the reporter's own case
    ],
    ids=["category", "building", "window", "own"],
)
async def test_nothing_is_offered_for_another_category_building_the_window_or_ones_own(
    text: Texter, loaded: ServiceContext, clock: Clock, later: int, sender: str, other: str
) -> None:
    await text(FIRST, PILED)
    clock.advance(minutes=later)
    [received] = await text(sender, other)
    assert received.startswith("已收到您的诉求 #2")
    assert len(await _cases(loaded)) == 2


async def test_the_hot_path_leaves_a_report_that_matches_to_the_question(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    inbound = Inbound("sms", "SMhot", address=NEIGHBOUR, language="zh", language_guessed=True)
    with pytest.raises(NotHot):
        await intake.sms_report(loaded, inbound, "172号楼门口快递又堆满了", SOUTH)
    assert len(await _cases(loaded)) == 1
    # Nothing was written: the general path takes the very same message and asks.
    [asked] = await handle_sms(
        loaded, InboundSms("SMhot", NEIGHBOUR, SOUTH, "172号楼门口快递又堆满了")
    )
    assert asked.startswith("已有人反映同类问题")
    assert len(await _cases(loaded)) == 1


async def test_three_open_cases_fit_two_segments_with_new_still_last(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    for n, phone in enumerate(("+8613700000211", "+8613700000212"), 2):
        await text(phone, f"172号楼东侧快递车挡路，第{n}次了")
        [received] = await text(phone, str(n))  # not the same problem: a new case each
        assert received.startswith(f"已收到您的诉求 #{n}")
    [asked] = await text(NEIGHBOUR, "172号楼门口快递把路堵了")
    assert segments(asked) <= 2
    lines = asked.splitlines()
    assert lines[1].startswith("回复 1 关注 #3 · 172号楼东侧 · 已派单")  # newest first
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["回复", "1", "关注"],
        ["回复", "2", "关注"],
        ["回复", "3", "关注"],
    ]
    assert lines[-1] == "回复 4 新建诉求。"
    followed = await text(NEIGHBOUR, "3")
    assert followed[0].startswith("您已关注诉求 #1")


async def test_a_followers_rating_is_feedback_and_the_case_closes_on_the_reporters(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    await text(NEIGHBOUR, "172号楼门口快递又堆满了")
    await text(NEIGHBOUR, "1")
    await lifecycle.resolve(loaded, number=1, actor=MANAGER)
    neighbour = await _person_at(loaded, NEIGHBOUR)
    [resolved] = await _told(loaded, neighbour, "case.f_resolved")
    assert resolved.channel == "sms"

    [thanks] = await text(NEIGHBOUR, "1")
    assert thanks.startswith(render("zh", "case.f_feedback_thanks", number=1, rating="满意"))
    [case] = await _cases(loaded)
    assert case.status == Status.RESOLVED.value  # still waiting for its reporter
    [heard] = await _told(loaded, "mgr-jzsj-south", "case.feedback")
    assert heard.text.startswith("关注诉求 #1 的居民评价：满意")
    # The latest rating is the follower's: they may change it, as the codes with the thanks say.
    await text(NEIGHBOUR, "基本满意")
    async with loaded.db.reading() as session:
        [follower] = (await session.exec(select(CaseFollower))).all()
        kinds = (await session.exec(select(CaseEvent.kind).order_by(col(CaseEvent.id)))).all()
    assert follower.rating == "basically_satisfied"
    assert kinds[-2:] == ["feedback", "feedback"]

    await text(FIRST, "1")
    [case] = await _cases(loaded)
    assert case.status == Status.CLOSED.value


async def test_status_lists_the_followed_case_and_answers_for_it_by_number(
    text: Texter, loaded: ServiceContext
) -> None:
    await text(FIRST, PILED)
    await text(NEIGHBOUR, "172号楼门口快递又堆满了")
    await text(NEIGHBOUR, "1")
    assert await text(NEIGHBOUR, "查询") == ["您关注的诉求：\n#1（快递堆放占道）：已派单"]
    assert await text(NEIGHBOUR, "查询 #1") == ["诉求 #1（快递堆放占道）：已派单。"]
    assert await text("+8613700000299", "查询 #1") == [render("zh", "sms.no_case")]
