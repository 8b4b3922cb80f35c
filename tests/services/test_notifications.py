"""Who hears what, on which channel, in their own language — read off the outbox rows the use
cases write on the example directory."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from bot.directory_file import read_directory
from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from core.texts import CATALOGS
from db.models import OutboxMessage
from tests.conftest import EXAMPLE

from .example import ACTORS

RESIDENT, MANAGER, STAFF = ACTORS["resident"], ACTORS["manager"], ACTORS["staff"]
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼")


async def outbox(ctx: ServiceContext, number: int) -> list[OutboxMessage]:
    """The new messages about case ``number``, oldest first (edits of earlier ones left out)."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.case_number == number, col(OutboxMessage.edit_of).is_(None)
        )
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


def to(messages: Sequence[OutboxMessage], person_id: str) -> list[OutboxMessage]:
    """The messages for one person."""
    return [m for m in messages if m.person_id == person_id]


def data(message: OutboxMessage) -> list[list[str]]:
    """The callback data of a message's buttons, row by row."""
    return [[b["data"] for b in row] for row in message.buttons]


def labels(message: OutboxMessage) -> list[str]:
    """The button labels a person reads."""
    return [b["text"] for row in message.buttons for b in row]


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


async def new_case(ctx: ServiceContext, channel: Channel = Channel.TELEGRAM) -> int:
    case = await report(ctx, resident_id="r-jzsj-172", channel=channel, new=PARCELS)
    assert case.number is not None
    return case.number


async def test_resident_hears_every_step_and_rates_with_three_buttons(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await lifecycle.acknowledge(ctx, number=n, actor=MANAGER)
    await lifecycle.resolve(ctx, number=n, actor=MANAGER, note="已清理")
    await lifecycle.rate(ctx, number=n, actor=RESIDENT, rating=Rating.BASICALLY_SATISFIED)
    messages = await outbox(ctx, n)
    mine = to(messages, "r-jzsj-172")
    assert [m.template for m in mine] == [
        "case.received",
        "case.acknowledged",
        "case.resolved_note",  # the manager's word on the fix goes with it
        "case.closed",
    ]
    for m in mine:
        assert (m.channel, m.address, m.language) == ("telegram", "4001", "zh")
        assert f"#{n}" in m.text
    received, acknowledged, resolved, closed = mine
    assert "已清理" in resolved.text
    assert "快递堆放占道" in received.text
    assert "嘉州水郡南区社区" in received.text
    assert data(resolved) == [[f"rate:{n}:1", f"rate:{n}:2", f"rate:{n}:3"]]
    assert labels(resolved) == ["😊 满意", "🙂 基本满意", "😞 不满意"]
    assert data(received) == [[f"cancel:{n}"]]  # may still withdraw before acknowledgement
    assert acknowledged.buttons == []
    assert closed.buttons == []
    assert "基本满意" in closed.text
    # The manager got the case as one card with its buttons, then the verdict; nobody else heard.
    card, rated = to(messages, "mgr-jzsj-south")
    assert (card.template, card.channel, card.address) == ("case.card", "telegram", "2001")
    assert data(card) == [[f"ack:{n}", f"done:{n}", f"decline:{n}"]]
    assert "快递堆在马路上" in card.text
    assert "172号楼" in card.text
    assert rated.template == "case.rated"
    assert "基本满意" in rated.text
    assert {m.person_id for m in messages} == {"r-jzsj-172", "mgr-jzsj-south"}


async def test_dissatisfied_reopens_tells_the_manager_why_and_escalates(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await lifecycle.acknowledge(ctx, number=n, actor=MANAGER)
    await lifecycle.resolve(ctx, number=n, actor=MANAGER)
    before = len(await outbox(ctx, n))
    case = await lifecycle.rate(
        ctx, number=n, actor=RESIDENT, rating=Rating.DISSATISFIED, note="快递还堆在路口"
    )
    assert (case.status, case.reopen_count, case.escalation_level) == ("assigned", 1, 1)
    new = (await outbox(ctx, n))[before:]
    (resident,) = to(new, "r-jzsj-172")
    assert resident.template == "case.reopened_resident"
    assert f"#{n}" in resident.text
    assert "物业主管" in resident.text
    assert resident.buttons == []  # nothing to rate until it is fixed again
    # one message to the manager: the reopen, with the resident's reason (no separate "rated")
    (reopened,) = to(new, "mgr-jzsj-south")
    assert reopened.template == "case.reopened"
    assert "快递还堆在路口" in reopened.text
    assert f"#{n}" in reopened.text
    assert data(reopened) == [[f"ack:{n}", f"done:{n}", f"decline:{n}"]]
    (escalated,) = to(new, "sup-jzsj-south")
    assert (escalated.template, escalated.channel, escalated.address) == (
        "case.escalated",
        "telegram",
        "3001",
    )
    assert f"#{n}" in escalated.text
    assert "物业主管" in escalated.text
    assert data(escalated) == [[f"ack:{n}", f"done:{n}", f"decline:{n}"]]
    assert to(new, "liubo") == []


async def test_escalation_climbs_to_staff_with_their_buttons(loaded: ServiceContext) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await lifecycle.remind(ctx, number=n)
    (reminder,) = to(await outbox(ctx, n), "mgr-jzsj-south")[1:]
    assert reminder.template == "case.reminder"
    assert f"#{n}" in reminder.text
    await lifecycle.escalate(ctx, number=n)
    after_first = len(await outbox(ctx, n))
    assert [m.template for m in to(await outbox(ctx, n), "sup-jzsj-south")] == ["case.escalated"]
    await lifecycle.escalate(ctx, number=n)
    new = (await outbox(ctx, n))[after_first:]
    (staff,) = to(new, "liubo")
    assert staff.template == "case.escalated"
    assert "社区工作人员" in staff.text
    assert data(staff) == [[f"reassign:{n}", f"reject:{n}", f"close:{n}"]]
    (resident,) = to(new, "r-jzsj-172")
    assert resident.template == "case.escalated_resident"
    assert f"#{n}" in resident.text


async def test_a_declined_case_goes_to_staff_with_reassign_reject_close(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await lifecycle.decline(ctx, number=n, actor=MANAGER, note="这是市政道路")
    (declined,) = to(await outbox(ctx, n), "liubo")
    assert (declined.template, declined.channel, declined.address) == (
        "case.declined",
        "telegram",
        "1001",
    )
    assert f"#{n}" in declined.text
    assert "这是市政道路" in declined.text
    assert data(declined) == [[f"reassign:{n}", f"reject:{n}", f"close:{n}"]]
    await lifecycle.reassign(ctx, number=n, actor=STAFF, manager_id="sup-jzsj-south")
    messages = await outbox(ctx, n)
    (card,) = to(messages, "sup-jzsj-south")
    assert card.template == "case.card"
    assert data(card) == [[f"ack:{n}", f"done:{n}", f"decline:{n}"]]
    assert to(messages, "r-jzsj-172")[-1].template == "case.reassigned_resident"


async def test_a_case_with_no_route_waits_for_staff(ctx: ServiceContext) -> None:
    directory = read_directory(EXAMPLE)
    routes = [r for r in directory.routing if r.community != "lingfeng"]
    await load_directory(ctx, directory.model_copy(update={"routing": routes}))
    case = await report(
        ctx,
        resident_id="r-lingfeng-1",
        channel=Channel.SMS,
        new=NewReport("lingfeng", "noise", "楼下装修太吵"),
    )
    assert case.number is not None
    n = case.number
    assert (case.status, case.manager_id) == ("unassigned", None)
    messages = await outbox(ctx, n)
    (staff,) = to(messages, "wangfang")
    assert (staff.template, staff.channel, staff.address) == ("case.unrouted", "telegram", "1006")
    assert f"#{n}" in staff.text
    assert "楼下装修太吵" in staff.text
    assert data(staff) == [[f"reassign:{n}", f"reject:{n}", f"close:{n}"]]
    (resident,) = to(messages, "r-lingfeng-1")
    assert (resident.template, resident.channel, resident.address) == (
        "case.received",
        "sms",
        "+8613900000004",
    )
    assert {m.person_id for m in messages} == {"wangfang", "r-lingfeng-1"}


async def test_an_english_speaker_reads_english(loaded: ServiceContext) -> None:
    ctx = loaded
    case = await report(
        ctx,
        resident_id="r-yunwan-en",
        channel=Channel.TELEGRAM,
        new=NewReport("yunwan", "sanitation", "Overflowing bins by gate 2"),
    )
    assert case.number is not None
    n = case.number
    manager = Actor("mgr-yunwan", Channel.TELEGRAM)
    await lifecycle.acknowledge(ctx, number=n, actor=manager)
    await lifecycle.resolve(ctx, number=n, actor=manager)
    messages = await outbox(ctx, n)
    mine = to(messages, "r-yunwan-en")
    assert [m.template for m in mine] == ["case.received", "case.acknowledged", "case.resolved"]
    for m in mine:
        assert (m.channel, m.address, m.language) == ("telegram", "4005", "en")
        assert f"#{n}" in m.text
        assert not has_cjk(m.text)
    assert "Sanitation" in mine[0].text
    assert "Yunwan Homes" in mine[0].text
    assert labels(mine[2]) == [CATALOGS["en"][f"button.rate.{i}"] for i in "123"]
    # The manager has no language of their own: they read the default, Chinese.
    (card,) = to(messages, "mgr-yunwan")
    assert card.language == "zh"
    assert "云湾家园社区" in card.text
    assert "环境卫生" in card.text
    assert labels(card) == ["✅ 接单", "🛠 已办好", "↩️ 非我负责"]


async def test_a_manager_without_telegram_gets_sms(loaded: ServiceContext) -> None:
    ctx = loaded
    case = await report(
        ctx,
        resident_id="r-yuanxiang-5",
        channel=Channel.TELEGRAM,
        new=NewReport("yuanxiang", "broken-facility", "5号楼和6号楼之间的长椅坏了"),
    )
    assert case.number is not None
    n = case.number
    (card,) = to(await outbox(ctx, n), "mgr-yuanxiang")
    assert (card.template, card.channel, card.address) == ("case.card", "sms", "+8613800000013")
    assert f"#{n}" in card.text
    # The codes the SMS reply grammar answers to (A<n>, D<n>) come from these actions.
    assert data(card)[0][:2] == [f"ack:{n}", f"done:{n}"]
    await lifecycle.acknowledge(ctx, number=n, actor=Actor("mgr-yuanxiang", Channel.SMS))
    (acknowledged,) = to(await outbox(ctx, n), "r-yuanxiang-5")[1:]
    assert (acknowledged.channel, acknowledged.address) == ("telegram", "4003")
    assert acknowledged.template == "case.acknowledged"


async def test_a_resident_who_reported_by_sms_is_answered_on_sms(loaded: ServiceContext) -> None:
    ctx = loaded
    n = await new_case(ctx, Channel.SMS)  # r-jzsj-172 has Telegram too; the report came by SMS
    sms_resident = Actor("r-jzsj-172", Channel.SMS)
    await lifecycle.acknowledge(ctx, number=n, actor=MANAGER)
    await lifecycle.resolve(ctx, number=n, actor=MANAGER)
    await lifecycle.rate(ctx, number=n, actor=sms_resident, rating=Rating.SATISFIED)
    messages = await outbox(ctx, n)
    mine = to(messages, "r-jzsj-172")
    assert [m.template for m in mine] == [
        "case.received",
        "case.acknowledged",
        "case.resolved",
        "case.closed",
    ]
    for m in mine:
        assert (m.channel, m.address) == ("sms", "+8613900000001")
        assert f"#{n}" in m.text
    # The manager is still reached on Telegram.
    assert {m.channel for m in to(messages, "mgr-jzsj-south")} == {"telegram"}


async def test_the_manager_hears_when_the_resident_withdraws(loaded: ServiceContext) -> None:
    ctx = loaded
    n = await new_case(ctx)
    await lifecycle.cancel(ctx, number=n, actor=RESIDENT)
    messages = await outbox(ctx, n)
    assert to(messages, "r-jzsj-172")[-1].template == "case.cancelled"
    withdrawn = to(messages, "mgr-jzsj-south")[-1]
    assert withdrawn.template == "case.cancelled_manager"
    assert f"#{n}" in withdrawn.text
    assert withdrawn.buttons == []


async def test_a_rejection_gives_its_reason_or_the_original(loaded: ServiceContext) -> None:
    original = await new_case(loaded)
    duplicate = await new_case(loaded)
    invalid = await new_case(loaded)
    await lifecycle.reject(loaded, number=duplicate, actor=STAFF, duplicate_of=original)
    await lifecycle.reject(loaded, number=invalid, actor=STAFF, note="不属于社区事务")
    told_dup = [m.text for m in to(await outbox(loaded, duplicate), RESIDENT.person_id or "")]
    told_bad = [m.text for m in to(await outbox(loaded, invalid), RESIDENT.person_id or "")]
    # A duplicate is merged: its reporter hears that the original carries it on.
    assert f"已合并到 #{original} 继续办理" in told_dup[-1]
    assert told_bad[-1].endswith("原因：不属于社区事务")
    assert "#-" not in told_dup[-1] + told_bad[-1]
