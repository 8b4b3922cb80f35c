"""Photos of the fix and questions to the reporter (issue 24): a manager's photo sent as a reply
to the case's card (or at the "已办好" prompt) resolves it and reaches the resident with the
rating buttons, an album's next photos join the fix; the holder (from the card) or staff (from
the console) ask the reporter a question, whose next message — by SMS or Telegram, words or a
photo — answers it, joins the timeline and reaches whoever asked. Updates go through PTB's
handlers and the SMS handler; what is checked is what people are sent and what the case keeps."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport
from bot.services.staff.views import show_case
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.sms.handler import InboundSms, handle_sms
from core.cases import Channel, Status
from db.models import Case, CasePhoto, OutboxMessage
from sandbox.twilio import new_sid
from tests.conftest import Clock
from tests.services.test_follow_telegram import (
    Resident,
    button,
    case_row,
    events,
    first_report,
    labels,
    messages_to,
)

BOT_ID = 123456  # who the faked Bot API says the bot is (tests/telegram/test_answers.py)
MANAGER_USER = 2001  # 王经理, who holds 嘉州水郡南区's cases
REPORTER_CHAT = "4001"  # 李大爷, who reports on Telegram
SOUTH = "+8610690000001"  # 嘉州水郡南区's number
TEXTER = "+8613700000301"
STAFF = Actor("liubo", Channel.WEB)  # 刘博, the community's staff, at the console
RATING_LABELS = ["😊 满意", "🙂 基本满意", "😞 不满意"]


class Holder(Resident):
    """A manager on Telegram, who may also reply to one of the bot's messages with a photo."""

    async def replies_with_photo(
        self, to: OutboxMessage, file_id: str, caption: str | None = None
    ) -> None:
        """A photo sent as a reply to message ``to`` (as Telegram quotes it: text and buttons)."""
        keyboard = [
            [{"text": b["text"], "callback_data": b["data"]} for b in row] for row in to.buttons
        ]
        replied: dict[str, Any] = {
            "message_id": 900 + (to.id or 0),
            "date": 0,
            "chat": {"id": self.user_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "我来办"},
            "text": to.text,
        }
        if keyboard:
            replied["reply_markup"] = {"inline_keyboard": keyboard}
        size = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 640, "height": 480}
        body: dict[str, Any] = {"photo": [size], "reply_to_message": replied}
        if caption is not None:
            body["caption"] = caption
        await self._message(body)

    async def card(self, number: int) -> OutboxMessage:
        """The case's card they were sent."""
        cards = [m for m in await self.heard() if m.case_number == number]
        return next(m for m in cards if m.template == "case.card")


async def _photos(ctx: ServiceContext, number: int) -> list[tuple[int, str | None]]:
    async with ctx.db.reading() as session:
        query = select(CasePhoto).where(CasePhoto.case_number == number)
        rows = (await session.exec(query.order_by(col(CasePhoto.position)))).all()
        return [(p.position, p.file_id) for p in rows]


async def _as_shown(ctx: ServiceContext, card: OutboxMessage) -> OutboxMessage:
    """The card as its reader sees it now: its latest edit, or itself."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.edit_of == card.id)
        return (await session.exec(query.order_by(col(OutboxMessage.id).desc()))).first() or card


async def _count_cases(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Case))).one())


async def test_a_photo_replying_to_the_card_resolves_and_reaches_the_resident_to_rate(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await first_report(ctx)
    manager = Holder(ctx, MANAGER_USER)
    await manager.presses(f"ack:{number}")
    await manager.replies_with_photo(await manager.card(number), "fix-1", "已清理，通道畅通")

    assert (await case_row(ctx, number)).status == Status.RESOLVED.value
    [resolved] = await events(ctx, number, "resolved")
    assert resolved.note == "已清理，通道畅通"
    assert resolved.data["photos"] == [0]
    assert await _photos(ctx, number) == [(0, "fix-1")]
    told = (await messages_to(ctx, REPORTER_CHAT))[-1]
    assert told.template == "case.resolved_note"
    assert "已清理，通道畅通" in told.text
    assert told.photos == [0]  # the photo itself, the text its caption, the buttons under it
    assert labels(told) == RATING_LABELS

    # An album's next photo (or one sent later, replying to the card again) joins the fix.
    await manager.replies_with_photo(await manager.card(number), "fix-2")
    [more] = await events(ctx, number, "fix_photo")
    assert more.data["photos"] == [1]
    told = (await messages_to(ctx, REPORTER_CHAT))[-1]
    assert (told.template, told.photos) == ("case.fix_photo", [1])

    shown = await show_case(ctx, number=number)
    assert shown is not None
    by_kind = {e["kind"]: e["photos"] for e in shown["events"]}
    assert (by_kind["resolved"], by_kind["fix_photo"], by_kind["reported"]) == ([0], [1], [])
    assert [p["position"] for p in shown["photos"]] == [0, 1]

    # The resident rates from the message with the photo: closed.
    reporter = Resident(ctx, int(REPORTER_CHAT))
    await reporter.presses(button(await _last_of(ctx, "case.resolved_note"), "😊"))
    assert (await case_row(ctx, number)).status == Status.CLOSED.value


async def _last_of(ctx: ServiceContext, template: str) -> OutboxMessage:
    found = [m for m in await messages_to(ctx, REPORTER_CHAT) if m.template == template]
    return found[-1]


async def test_a_photo_at_the_resolve_prompt_is_the_fix_and_its_caption_the_note(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    leak = NewReport("jzsj-south", "water-leak", "楼道水管漏水", location="172号楼")
    number = await first_report(ctx, leak)  # water leaks have resolve replies: a prompt first
    manager = Holder(ctx, MANAGER_USER)
    await manager.presses(f"done:{number}")
    assert (await manager.last()).template == "flow.ask_resolve_note"
    await manager.sends_photo("pipe-fixed", caption="换了新水管")
    await manager.sends_photo("pipe-dry")  # the album's second photo

    assert (await case_row(ctx, number)).status == Status.RESOLVED.value
    [resolved] = await events(ctx, number, "resolved")
    assert (resolved.note, resolved.data["photos"]) == ("换了新水管", [0])
    assert [e.data["photos"] for e in await events(ctx, number, "fix_photo")] == [[1]]
    assert await _photos(ctx, number) == [(0, "pipe-fixed"), (1, "pipe-dry")]
    told = [m for m in await messages_to(ctx, REPORTER_CHAT) if m.case_number == number]
    assert [(m.template, m.photos) for m in told[-2:]] == [
        ("case.resolved_note", [0]),
        ("case.fix_photo", [1]),
    ]
    # A text afterwards is not a photo of the fix: it ends the photos and means what it says.
    await manager.says("好的")
    assert len(await events(ctx, number, "fix_photo")) == 1


async def test_a_photo_from_someone_who_does_not_hold_the_case_resolves_nothing(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await first_report(ctx)
    reporter = Holder(ctx, int(REPORTER_CHAT))
    receipt = (await messages_to(ctx, REPORTER_CHAT))[-1]
    await reporter.replies_with_photo(receipt, "not-a-fix")
    assert (await case_row(ctx, number)).status == Status.ASSIGNED.value
    assert await events(ctx, number, "resolved") == []
    assert await _photos(ctx, number) == []


async def test_a_question_from_the_card_is_answered_by_sms_and_reaches_the_manager(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    [received] = await handle_sms(
        ctx, InboundSms(new_sid("SM"), TEXTER, SOUTH, "172号楼门口快递堆满了")
    )
    assert received.startswith("已收到您的诉求 #1")
    manager = Holder(ctx, MANAGER_USER)
    await manager.presses("ack:1")
    card = await _as_shown(ctx, await manager.card(1))
    assert "❓ 问居民" in labels(card)  # taken on, the card offers the question
    await manager.presses("ask:1")
    assert (await manager.last()).template == "flow.ask_question"
    await manager.says("快递现在还堆在门口吗？")
    assert (await manager.last()).template == "case.question_sent"
    asked = (await messages_to(ctx, TEXTER))[-1]
    assert asked.template == "case.asked"
    assert "王经理想问您：\n快递现在还堆在门口吗？" in asked.text

    clock.advance(minutes=20)
    [thanks] = await handle_sms(ctx, InboundSms(new_sid("SM"), TEXTER, SOUTH, "还在，堆了三层"))
    assert thanks.startswith("收到，您的回复已转给诉求 #1")
    assert await _count_cases(ctx) == 1  # an answer, not a new report
    [answered] = await events(ctx, 1, "answered")
    assert answered.note == "还在，堆了三层"
    assert answered.channel == "sms"
    heard = await manager.last()
    assert heard.template == "case.answered"
    assert "问：快递现在还堆在门口吗？\n答：还在，堆了三层" in heard.text
    # Answered, the next text is what it says: a new report.
    clock.advance(minutes=20)
    await handle_sms(ctx, InboundSms(new_sid("SM"), TEXTER, SOUTH, "173号楼门口快递也堆满了"))
    assert await _count_cases(ctx) == 2


async def test_a_question_from_the_console_is_answered_with_a_photo_on_telegram(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await first_report(ctx)
    await lifecycle.ask(ctx, number=number, actor=STAFF, question="能拍张照片看看吗？")
    asked = (await messages_to(ctx, REPORTER_CHAT))[-1]
    assert (asked.template, asked.buttons) == ("case.asked", [])
    assert "能拍张照片看看吗？" in asked.text
    reporter = Resident(ctx, int(REPORTER_CHAT))
    await reporter.sends_photo("piles", caption="就是这样")
    [answered] = await events(ctx, number, "answered")
    assert (answered.note, answered.data["photo"], answered.data["asked_by"]) == (
        "就是这样",
        0,
        "liubo",
    )
    assert await _photos(ctx, number) == [(0, "piles")]
    assert (await reporter.last()).template == "case.answer_passed"


async def test_who_may_ask_and_what_a_question_needs(loaded: ServiceContext) -> None:
    ctx = loaded
    number = await first_report(ctx)
    resident = Actor("r-jzsj-172", Channel.TELEGRAM)
    other_staff = Actor("suxinghua", Channel.WEB)  # staff of another community
    for actor, question, reason in (
        (resident, "还在吗", "refused.not_entitled"),
        (other_staff, "还在吗", "refused.not_entitled"),
        (STAFF, "   ", "refused.question_missing"),
    ):
        with pytest.raises(ServiceRefusal) as refused:
            await lifecycle.ask(ctx, number=number, actor=actor, question=question)
        assert refused.value.reason == reason, (actor, question)
    assert await events(ctx, number, "asked") == []
    assert (await case_row(ctx, number)).asked_by is None
