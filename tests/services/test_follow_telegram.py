"""Following on Telegram (issue 23): a resident whose guided report reaches its place is offered
the open cases like it and follows one instead of reporting it again — adds a note or a photo,
hears the case's steps, rates it as feedback, finds it under /mycases. Every update goes through
PTB to the handlers (Telegram faked at its request seam); what is checked is what people see: the
outbox rows, their words and buttons."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core import report_flow as flow
from core.cases import Action, Rating
from db.models import Case, CaseEvent, CaseFollower, CasePhoto, OutboxMessage
from tests.conftest import Clock
from tests.services.example import ACTORS
from tests.telegram.test_answers import handled

MANAGER = ACTORS["manager"]  # mgr-jzsj-south, reached on Telegram (chat 2001)
MANAGER_CHAT = "2001"
REPORTER = ACTORS["resident"]  # r-jzsj-172, who reported the parcels first
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在172号楼门口的马路上", location="172号楼")


@dataclass
class Resident:
    """A Telegram user talking to the bot: each call is one update through PTB's handlers."""

    ctx: ServiceContext
    user_id: int
    language: str = "zh"
    updates: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def chat(self) -> str:
        return str(self.user_id)

    def _user(self) -> dict[str, Any]:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": "居民",
            "language_code": self.language,
        }

    def _id(self) -> int:
        return self.user_id * 1000 + next(self.updates)

    async def says(self, text: str) -> None:
        """A text message (a command when it starts with "/")."""
        message: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        await self._message(message)

    async def sends_photo(self, file_id: str, caption: str | None = None) -> None:
        """A photo, with the words under it when given."""
        size = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 640, "height": 480}
        message: dict[str, Any] = {"photo": [size]}
        if caption is not None:
            message["caption"] = caption
        await self._message(message)

    async def presses(self, data: str) -> list[dict[str, Any]]:
        """A button; what Telegram was asked to answer the press with (an alert: refused)."""
        update_id = self._id()
        query = {"id": f"q{update_id}", "from": self._user(), "chat_instance": "1", "data": data}
        api = await handled(self.ctx, {"update_id": update_id, "callback_query": query})
        return api.answers()

    async def presses_label(self, label: str) -> None:
        """The button reading ``label`` on the last message they got."""
        await self.presses(button(await self.last(), label))

    async def _message(self, body: dict[str, Any]) -> None:
        update_id = self._id()
        chat = {"id": self.user_id, "type": "private"}
        message = {"message_id": update_id, "date": 0, "chat": chat, "from": self._user(), **body}
        await handled(self.ctx, {"update_id": update_id, "message": message})

    async def heard(self) -> list[OutboxMessage]:
        """Every message to them so far, oldest first."""
        return await messages_to(self.ctx, self.chat)

    async def last(self) -> OutboxMessage:
        return (await self.heard())[-1]

    async def follows(self, number: int) -> None:
        """Reports the parcels at 172 and picks case ``number`` from what is offered."""
        await self.reaches_place("172")
        await self.presses_label(f"#{number} ·")

    async def reaches_place(self, place: str = "172") -> None:
        """/report, the parcels, 嘉州水郡南区, then the place: a building's button or words."""
        await self.says("/report")
        await self.presses_label(
            "Parcels blocking the way" if self.language == "en" else "快递堆放占道"
        )
        english = self.language == "en"
        if (await self.last()).template == "flow.ask_community":  # a stranger's community
            await self.presses_label("Jiazhou Shuijun South" if english else "嘉州水郡南区社区")
        asked = await self.last()
        if place in labels(asked):
            await self.presses(button(asked, place))
        else:
            await self.says(place)


async def messages_to(ctx: ServiceContext, address: str) -> list[OutboxMessage]:
    """The messages queued for a chat, oldest first (card edits left out)."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.address == address, col(OutboxMessage.edit_of).is_(None)
        )
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


def labels(message: OutboxMessage) -> list[str]:
    """The button labels a person reads."""
    return [b["text"] for row in message.buttons for b in row]


def button(message: OutboxMessage, label: str) -> str:
    """The data of the button reading ``label`` (or starting with it)."""
    found = [b["data"] for row in message.buttons for b in row if b["text"].startswith(label)]
    assert len(found) == 1, (label, labels(message))
    return found[0]


def templates(rows: list[OutboxMessage]) -> list[str]:
    return [m.template for m in rows]


@pytest.fixture
async def first(loaded: ServiceContext) -> int:
    """李大爷's parcels at building 172, reported on Telegram: the case offered to the others."""
    return await first_report(loaded)


async def first_report(ctx: ServiceContext, new: NewReport = PARCELS) -> int:
    """The open case the others are offered: 李大爷's parcels at building 172."""
    case = await report(
        ctx, resident_id=REPORTER.person_id or "", channel=REPORTER.channel, new=new
    )
    assert case.number is not None
    return case.number


async def count(ctx: ServiceContext, model: type[Any], *where: Any) -> int:
    async with ctx.db.reading() as session:
        query = select(func.count()).select_from(model)
        for clause in where:
            query = query.where(clause)
        return int((await session.exec(query)).one())


async def case_row(ctx: ServiceContext, number: int) -> Case:
    async with ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    return case


async def events(ctx: ServiceContext, number: int, kind: str) -> list[CaseEvent]:
    async with ctx.db.reading() as session:
        query = select(CaseEvent).where(CaseEvent.case_number == number, CaseEvent.kind == kind)
        return list((await session.exec(query.order_by(col(CaseEvent.id)))).all())


# ---- offered, and followed ---------------------------------------------------------------------


async def test_a_resident_is_offered_the_open_case_and_follows_it(
    loaded: ServiceContext, first: int, clock: Clock
) -> None:
    ctx, number = loaded, first
    clock.advance(hours=2)
    neighbour = Resident(ctx, 880000501)
    await neighbour.reaches_place("172")
    offer = await neighbour.last()
    assert offer.template == "follow.ask"
    assert labels(offer) == [
        f"#{number} · 172号楼 · 已派单 · 2 小时前 · 1 人关注",
        "不是，这是新问题",
        "✖ 取消",
    ]
    await neighbour.presses_label(f"#{number} ·")

    assert await count(ctx, Case) == 1  # no new case
    case = await case_row(ctx, number)
    assert case.followers == 1
    assert len(await events(ctx, number, "followed")) == 1
    told = await neighbour.heard()
    assert templates(told)[-2:] == ["case.f_following", "follow.add_note"]
    assert f"您已关注诉求 #{number}" in told[-2].text
    assert labels(told[-1]) == ["完成"]
    # the manager's one card, from the first report; nothing for the follow
    manager = await messages_to(ctx, MANAGER_CHAT)
    assert templates(manager) == ["case.card"]


async def test_the_words_of_the_offer_are_the_residents_language(
    loaded: ServiceContext, first: int, clock: Clock
) -> None:
    ctx, number = loaded, first
    clock.advance(minutes=20)
    anna = Resident(ctx, 880000502, language="en")
    await anna.reaches_place("172")
    offer = await anna.last()
    assert offer.text.startswith("These are already reported")
    assert labels(offer)[0].startswith(f"#{number} · 172")
    assert "20 min" in labels(offer)[0]


async def test_no_says_it_is_a_new_problem_and_makes_a_new_case(
    loaded: ServiceContext, first: int
) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000503)
    await neighbour.reaches_place("172")
    await neighbour.presses_label("不是，这是新问题")
    assert (await neighbour.last()).template == "flow.ask_description"
    await neighbour.says("快递车堵住了消防通道")
    await neighbour.presses("r:photos:skip")
    await neighbour.presses("r:confirm:ok")
    assert await count(ctx, Case) == 2
    assert (await case_row(ctx, number)).followers == 0
    assert "case.received" in templates(await neighbour.heard())
    assert templates(await messages_to(ctx, MANAGER_CHAT)) == ["case.card", "case.card"]


@pytest.mark.parametrize(
    "unlike",
    ["another category", "another building", "past the window", "closed", "their own"],
)
async def test_nothing_is_offered_for_a_case_unlike_the_report(
    loaded: ServiceContext, clock: Clock, unlike: str
) -> None:
    ctx = loaded
    match unlike:
        case "another category":
            await first_report(ctx, NewReport("jzsj-south", "sanitation", "垃圾桶满了", "172号楼"))
        case "another building":
            await first_report(ctx, NewReport("jzsj-south", "parcels", "快递堆在门口", "173号楼"))
        case "past the window":
            await first_report(ctx)
            clock.advance(days=3, minutes=1)
        case "closed":
            number = await first_report(ctx)
            await act(ctx, number=number, actor=REPORTER, request=Request(Action.CANCEL))
        case "their own":
            await first_report(ctx)
    user = 4001 if unlike == "their own" else 880000504  # 李大爷's own chat
    neighbour = Resident(ctx, user)
    await neighbour.reaches_place("172")
    assert (await neighbour.last()).template == "flow.ask_description"


async def test_without_a_building_the_communitys_open_cases_of_the_category_are_offered(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    at_172 = await first_report(ctx)
    clock.advance(minutes=5)
    at_173 = await first_report(ctx, NewReport("jzsj-south", "parcels", "快递堆在门口", "173号楼"))
    neighbour = Resident(ctx, 880000505)
    await neighbour.reaches_place("小区北门")
    offer = await neighbour.last()
    assert offer.template == "follow.ask"
    offered = [label.split(" ·")[0] for label in labels(offer)]
    assert offered == [f"#{at_173}", f"#{at_172}", "不是，这是新问题", "✖ 取消"]


async def test_a_case_just_inside_the_window_is_still_offered(
    loaded: ServiceContext, first: int, clock: Clock
) -> None:
    clock.advance(days=2, hours=23)
    neighbour = Resident(loaded, 880000514)
    await neighbour.reaches_place("172")
    assert labels(await neighbour.last())[0] == f"#{first} · 172号楼 · 已派单 · 2 天前 · 1 人关注"


# ---- the offer's question: kept, asked again, overtaken ----------------------------------------


async def test_free_text_at_the_offer_asks_again_with_the_same_cases(
    loaded: ServiceContext,
    first: int,
) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000506)
    await neighbour.reaches_place("172")
    offered = labels(await neighbour.last())
    await neighbour.says("是的")
    again = await neighbour.last()
    assert again.template == "follow.ask"
    assert again.text.startswith("请点击下面的按钮作答。")
    assert labels(again) == offered
    await neighbour.presses(button(again, f"#{number} ·"))  # the draft kept what it offered
    assert (await case_row(ctx, number)).followers == 1


async def test_a_case_closed_meanwhile_is_refused_and_the_report_goes_on(
    loaded: ServiceContext,
    first: int,
) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000507)
    await neighbour.reaches_place("172")
    offer = await neighbour.last()
    await act(ctx, number=number, actor=REPORTER, request=Request(Action.CANCEL))
    await neighbour.presses(button(offer, f"#{number} ·"))
    told = await neighbour.heard()
    assert templates(told)[-2:] == ["refused.follow_closed", "flow.ask_description"]
    assert f"诉求 #{number} 已结束，无法关注" in told[-2].text
    assert await count(ctx, CaseFollower) == 0
    await neighbour.says("快递堆满了")  # nothing lost: the report goes on
    await neighbour.presses("r:photos:skip")
    await neighbour.presses("r:confirm:ok")
    assert await count(ctx, Case) == 2


# ---- a note and a photo after following --------------------------------------------------------


async def test_a_note_and_a_photo_join_the_case_and_reach_its_holder(
    loaded: ServiceContext,
    first: int,
) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000508)
    await neighbour.follows(number)
    await neighbour.says("三轮车也堵在这里")
    await neighbour.sends_photo("AgACAgIAAxkBAAIBfollow", caption="早上八点拍的")
    [asked] = [m for m in await neighbour.heard() if m.template == "follow.add_note"]
    await neighbour.presses(button(asked, "完成"))  # its button, pressed after the notes

    comments = await events(ctx, number, "commented")
    assert [e.note for e in comments] == ["三轮车也堵在这里", "早上八点拍的"]
    async with ctx.db.reading() as session:
        photos = (
            await session.exec(select(CasePhoto).where(CasePhoto.case_number == number))
        ).all()
    assert [p.file_id for p in photos] == ["AgACAgIAAxkBAAIBfollow"]
    holder = [m for m in await messages_to(ctx, MANAGER_CHAT) if m.template == "case.commented"]
    assert [m.text for m in holder] == [
        f"关注诉求 #{number} 的居民补充：三轮车也堵在这里",
        f"关注诉求 #{number} 的居民补充：早上八点拍的",
    ]
    told = templates(await neighbour.heard())
    assert told[-3:] == ["case.f_comment_added", "case.f_comment_added", "follow.note_done"]
    # done: a later message is no note any more
    await neighbour.says("还有")
    assert len(await events(ctx, number, "commented")) == 2


async def test_the_photo_goes_with_the_holders_message(loaded: ServiceContext, first: int) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000513)
    await neighbour.follows(number)
    await neighbour.sends_photo("AgACAgIAAxkBAAIBfollow", caption="早上八点拍的")
    holder = [m for m in await messages_to(ctx, MANAGER_CHAT) if m.template == "case.commented"]
    assert [m.photos for m in holder] == [[0]]  # the case's first photo, shown with the words


async def test_cancel_at_the_note_step_keeps_the_follow(loaded: ServiceContext, first: int) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000509)
    await neighbour.follows(number)
    await neighbour.says("/cancel")
    assert (await neighbour.last()).template == "follow.note_done"
    assert (await case_row(ctx, number)).followers == 1


# ---- what a follower hears, and their rating ---------------------------------------------------


async def test_followers_hear_resolved_and_closed_once_each_in_their_language(
    loaded: ServiceContext,
    first: int,
) -> None:
    ctx, number = loaded, first
    chinese, english = Resident(ctx, 880000510), Resident(ctx, 880000511, language="en")
    for follower in (chinese, english):
        await follower.follows(number)
        await follower.presses_label("完成" if follower.language == "zh" else "Done")
    await act(ctx, number=number, actor=MANAGER, request=Request(Action.ACKNOWLEDGE))
    await act(ctx, number=number, actor=MANAGER, request=Request(Action.RESOLVE, note="已清理"))

    # a follower's "satisfied": feedback, the case still waits for its reporter
    [answer] = await chinese.presses(f"rate:{number}:1")
    assert "show_alert" not in answer  # taken, not refused
    assert (await case_row(ctx, number)).status == "resolved"
    assert templates(await chinese.heard())[-1] == "case.f_feedback_thanks"
    assert "感谢您对诉求" in (await chinese.last()).text
    # a follower's "not satisfied": asked why, heard as feedback, the case not reopened
    await english.presses(f"rate:{number}:3")
    assert (await english.last()).template == "flow.ask_rate_reason"
    await english.says("Some parcels are still there")
    assert (await case_row(ctx, number)).status == "resolved"
    assert (await case_row(ctx, number)).reopen_count == 0
    assert [e.data.get("rating") for e in await events(ctx, number, "feedback")] == [
        Rating.SATISFIED.value,
        Rating.DISSATISFIED.value,
    ]
    feedback = [m for m in await messages_to(ctx, MANAGER_CHAT) if m.template == "case.feedback"]
    assert len(feedback) == 2
    assert "Some parcels are still there" in feedback[1].text

    await act(
        ctx, number=number, actor=REPORTER, request=Request(Action.RATE, rating=Rating.SATISFIED)
    )
    assert (await case_row(ctx, number)).status == "closed"
    for follower, closed in ((chinese, "已办结"), (english, "closed")):
        heard = await follower.heard()
        step = [m for m in heard if m.template in ("case.f_resolved", "case.f_closed")]
        assert templates(step) == ["case.f_resolved", "case.f_closed"], follower.language
        resolved = step[0]
        assert [b["data"] for row in resolved.buttons for b in row] == [
            f"rate:{number}:1",
            f"rate:{number}:2",
            f"rate:{number}:3",
        ]
        assert closed in step[1].text
        assert resolved.language == follower.language
    assert "case.f_acknowledged" in templates(await chinese.heard())
    # the manager got one card for the one problem
    assert templates(await messages_to(ctx, MANAGER_CHAT)).count("case.card") == 1


# ---- /mycases and /case ------------------------------------------------------------------------


async def test_mycases_lists_followed_cases_and_a_follower_may_look_at_one(
    loaded: ServiceContext,
    first: int,
) -> None:
    ctx, number = loaded, first
    neighbour = Resident(ctx, 880000512)
    await neighbour.follows(number)
    await neighbour.presses_label("完成")
    await neighbour.says("/mycases")
    listed = await neighbour.last()
    assert listed.template == "tg.my_cases_header"
    assert f"#{number} 快递堆放占道 · 已派单" in listed.text
    assert listed.text.rstrip().endswith("我关注的")
    await neighbour.says(f"/case {number}")
    detail = await neighbour.last()
    assert detail.template == "tg.case_detail"
    assert "172号楼" in detail.text


# ---- the state machine ---------------------------------------------------------------------------

OPTIONS = flow.Options(("parcels",), ("jzsj-south",), buildings=("172",))


def test_the_flow_offers_only_when_told_and_keeps_what_it_offered() -> None:
    at_place = flow.Draft(step=flow.Step.LOCATION, category="parcels", community="jzsj-south")
    outcome = flow.advance(at_place, OPTIONS, flow.Choice(0))
    assert flow.placed(at_place, outcome)
    assert outcome.draft is not None
    assert flow.offer(outcome.draft, ()) == outcome.draft  # nothing found: on to the description
    asked = flow.offer(outcome.draft, (9, 8, 7, 6))
    assert (asked.step, asked.offered) == (flow.Step.SUGGEST, (9, 8, 7))
    assert flow.advance(asked, OPTIONS, flow.Choice(1)) == flow.Outcome(asked, follow=8)
    assert flow.advance(asked, OPTIONS, flow.Text("是")) == flow.Outcome(asked, reask=True)
    assert flow.advance(asked, OPTIONS, flow.Choice(3)).reask
    new = flow.advance(asked, OPTIONS, flow.Signal.NEW).draft
    assert new is not None
    assert (new.step, new.offered, new.location) == (flow.Step.DESCRIPTION, (), "172")
    assert not flow.placed(asked, flow.advance(asked, OPTIONS, flow.Signal.NEW))
    assert flow.advance(asked, OPTIONS, flow.Signal.ABANDON).draft is None
