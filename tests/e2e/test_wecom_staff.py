"""A manager on WeCom (企业微信), through the WeCom emulator on loopback: a case reported by SMS
reaches them as a card with buttons; pressing acknowledge and resolve moves the case and brings
the card up to date; text commands and an invite's code work as on Telegram; a forged callback
is refused and changes nothing, a replayed one acts once; a card whose code has run out comes
afresh; a 45009 holds the member back and loses nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from bot.channels import BOOK
from bot.delivery.pacing import Limits
from bot.directory_file import validate_file_data
from bot.runtime import Stack
from bot.services.directory.load import load_directory
from bot.services.talk.invites import create_invite
from bot.services.unit.context import ServiceContext
from core.directory import Directory
from db import queries
from db.engine import Database
from db.models import Case, CaseEvent, OutboxMessage
from sandbox.harness import example_data, run_settings, serve_emulators, until
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator
from sandbox.wecom import WeComEmulator
from sandbox.wecom_state import AppMessage, Card, Posted

MANAGER = "zhengjl"  # mgr-bgy-north (郑经理): on WeCom here, not on Telegram
SUPERVISOR = "qianzg"  # sup-bgy-north (钱主管): a member who binds by invite
RESIDENT, BGY = "+8613900000002", "+8610690000002"  # 何女士 texts 碧桂园北区's number
REPORT = "72号楼后侧建筑垃圾存放处清理不及时，还有人乱扔垃圾"
# The member's pace, scaled down in time (a 45009 holds them back one such window).
PACING = Limits(per_second=100.0, chat_interval=0.05, chat_caps=((30, 1.0), (1000, 3600.0)))


@dataclass
class Staff:
    """The stack with the WeCom app on, the emulators, and the member's side of the app."""

    stack: Stack
    wecom: WeComEmulator
    twilio: TwilioEmulator
    ctx: ServiceContext
    public_url: str

    def inbox(self, userid: str = MANAGER) -> list[AppMessage]:
        return self.wecom.inbox(userid)

    def cards(self, userid: str = MANAGER) -> list[Card]:
        return [m.card for m in self.inbox(userid) if m.card is not None]

    async def next(self, seen: int, userid: str = MANAGER) -> AppMessage:
        """The first message beyond the ``seen`` the member had."""
        await until(lambda: len(self.inbox(userid)) > seen, 15)
        return self.inbox(userid)[seen]

    async def report(self) -> Card:
        """何女士 reports by SMS; the card that reaches the manager."""
        reply = await self.twilio.text(RESIDENT, BGY, REPORT, url=f"{self.public_url}/twilio/sms")
        assert "#1" in reply.messages[0]
        card = (await self.next(0)).card
        assert card is not None
        return card

    async def press(self, card: Card, key: str, *, updates: int) -> Posted:
        """The manager presses ``key``; once the card shows its ``updates``-th update."""
        posted = await self.wecom.member_presses(MANAGER, card, key)
        assert (posted.status_code, posted.text) == (200, "success")
        await until(lambda: len(card.updates) >= updates, 15)
        return posted

    async def case(self) -> Case:
        async with self.ctx.db.reading() as session:
            found = await session.get(Case, 1)
        assert found is not None
        return found

    async def events(self) -> list[tuple[str, str | None]]:
        async with self.ctx.db.reading() as session:
            query = select(CaseEvent).order_by(col(CaseEvent.id))
            return [(e.kind, e.channel) for e in (await session.exec(query)).all()]

    async def outbox(self) -> int:
        async with self.ctx.db.reading() as session:
            return len((await session.exec(select(OutboxMessage))).all())


def _directory() -> Directory:
    """The example directory with 郑经理 on WeCom (the file's ``wecom_userid``), not Telegram."""
    data = example_data(quiet_hours=None)
    for person in data["people"]:
        if person["id"] == "mgr-bgy-north":
            del person["telegram_id"]
            person["wecom_userid"] = "ZhengJL"  # WeCom's userids know no case
    directory = validate_file_data(data)
    assert isinstance(directory, Directory), directory
    return directory


@asynccontextmanager
async def staff_stack(db: Database) -> AsyncIterator[Staff]:
    """Everything on ``db`` with WeCom on (no quiet hours: any hour is daytime)."""
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    await load_directory(ctx, _directory())
    telegram, twilio, wecom = TelegramEmulator(), TwilioEmulator(), WeComEmulator()
    wecom.add_member(MANAGER)
    wecom.add_member(SUPERVISOR)
    async with serve_emulators(telegram, twilio, wecom=wecom) as emulators:
        settings = run_settings(db.url, emulators, sms_per_second=50)
        stack = Stack(
            settings, ctx, pacing={"wecom": PACING}, scheduled_digests=False, scheduled_data=False
        )
        await stack.start()
        try:
            yield Staff(stack, wecom, twilio, ctx, settings.public_url)
        finally:
            await stack.stop()


@pytest.fixture
async def staff(db: Database) -> AsyncIterator[Staff]:
    async with staff_stack(db) as run:
        yield run


async def test_the_card_reaches_the_manager_and_pressing_moves_the_case_and_the_card(
    staff: Staff,
) -> None:
    card = await staff.report()
    assert card.title == "📋 新诉求 #1"
    assert "72号楼后侧建筑垃圾" in card.text()
    assert card.pressable() == ["ack:1", "done:1", "decline:1"]
    await staff.wecom.member_says(MANAGER, "/case 1")  # a second card of the case
    shown = (await staff.next(1)).card
    assert shown is not None

    await staff.press(card, "ack:1", updates=1)
    assert (await staff.case()).status == "acknowledged"
    assert card.desc == "—— 当前状态：处理中"  # the same card, now saying where the case is
    assert card.pressable() == ["done:1", "decline:1", "ask:1"]
    await until(lambda: any("已有负责人接单" in m.body for m in staff.twilio.inbox(RESIDENT)))

    # the other card still offers "接单": pressed, it says why not, then reads as the case
    await staff.press(shown, "ack:1", updates=1)
    refused = staff.inbox()[2]
    assert refused.text == "诉求 #1 当前为「处理中」，不能进行此操作。"
    assert shown.pressable() == ["done:1", "decline:1", "ask:1"]

    await staff.press(card, "done:1", updates=2)
    assert (await staff.case()).status == "resolved"
    assert card.replace_name == "待评价"  # nothing more to press: what was done, in its place
    assert card.pressable() == []
    await until(lambda: any("回复 1 满意" in m.body for m in staff.twilio.inbox(RESIDENT)))
    assert await staff.events() == [
        ("reported", "sms"),
        ("routed", "system"),
        ("acknowledged", "wecom"),
        ("resolved", "wecom"),
    ]
    assert len(staff.cards()) == 2  # no card was added: each one pressed was changed
    assert staff.wecom.staff.updates_refused == []


async def test_commands_and_an_invite_work_as_on_telegram(staff: Staff) -> None:
    await staff.report()
    seen = len(staff.inbox())
    await staff.wecom.member_says(MANAGER, "／open")  # a Chinese keyboard's slash
    listed = await staff.next(seen)
    assert "#1" in listed.text

    # 钱主管 is not bound to WeCom yet: the invite's code, sent to the app, binds them
    made = await create_invite(staff.ctx, person_id="sup-bgy-north")
    await staff.wecom.member_says(SUPERVISOR, made.code)
    bound = await staff.next(0, SUPERVISOR)
    assert "绑定成功：钱主管" in bound.text
    async with staff.ctx.db.reading() as session:
        identity = await queries.identity_of(
            session=session, person_id="sup-bgy-north", channel="wecom"
        )
    assert identity is not None
    assert identity.address == SUPERVISOR

    await staff.wecom.member_says(SUPERVISOR, "/case 1")
    shown = (await staff.next(1, SUPERVISOR)).card
    assert shown is not None
    assert "#1" in shown.text()

    # a question's card: the answer pressed takes the buttons' place
    await staff.wecom.member_says(SUPERVISOR, "/lang")
    asked = (await staff.next(2, SUPERVISOR)).card
    assert asked is not None
    assert asked.pressable() == ["l:zh", "l:en"]
    posted = await staff.wecom.member_presses(SUPERVISOR, asked, "l:en")
    assert posted.status_code == 200
    await until(lambda: asked.replace_name == "English", 15)
    assert "English" in (await staff.next(3, SUPERVISOR)).text


async def test_a_forged_callback_changes_nothing_and_a_replayed_one_acts_once(
    staff: Staff,
) -> None:
    posted = await staff.wecom.verify_url("app")  # the URL set in WeCom is checked first
    assert (posted.status_code, posted.text) == (200, posted.expected)
    card = await staff.report()
    outbox = await staff.outbox()
    press: dict[str, str | int] = {
        "ToUserName": staff.wecom.corp_id,
        "FromUserName": MANAGER,
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "template_card_event",
        "EventKey": "ack:1",
        "TaskId": card.task_id,
        "ResponseCode": "forged-code",
        "AgentID": staff.wecom.agent_id,
    }
    for how in ("signature", "token", "key", "receiver", "tampered", "unsigned"):
        posted = await staff.wecom.forged("app", how, press)  # type: ignore[arg-type]
        assert (posted.status_code, posted.text) == (403, ""), how
    assert (await staff.case()).status == "assigned"
    assert await staff.outbox() == outbox
    assert card.updates == []

    await staff.press(card, "ack:1", updates=1)
    again = await staff.wecom.replay_last()  # WeCom's retry, byte for byte
    assert (again.status_code, again.text) == (200, "success")
    seen = len(staff.inbox())
    await staff.wecom.member_says(MANAGER, "/help")  # answered after anything the replay caused
    await staff.next(seen)
    assert [kind for kind, _ in await staff.events()].count("acknowledged") == 1
    assert len(card.updates) == 1
    assert staff.wecom.staff.updates_refused == []
    assert len(staff.inbox()) == seen + 1


async def test_a_card_whose_code_ran_out_comes_afresh(staff: Staff) -> None:
    card = await staff.report()
    staff.wecom.staff.code_lifetime = 0.0  # every code is past its 72 hours when it is used
    seen = len(staff.inbox())
    await staff.wecom.member_presses(MANAGER, card, "ack:1")
    fresh = (await staff.next(seen)).card
    assert (await staff.case()).status == "acknowledged"
    assert fresh is not None
    assert fresh.task_id != card.task_id
    assert fresh.desc == "—— 当前状态：处理中"
    assert fresh.pressable() == ["done:1", "decline:1", "ask:1"]
    assert [code for _, code in staff.wecom.staff.updates_refused] == [42022]

    staff.wecom.staff.code_lifetime = 72 * 3600.0
    await staff.press(fresh, "done:1", updates=1)  # the fresh card's press acts as any
    assert (await staff.case()).status == "resolved"


async def test_what_wecom_refuses_is_not_lost(staff: Staff) -> None:
    # over a member's pace (45009): held back a "minute", then sent once
    staff.wecom.flood_next(1, "message/send")
    started = time.monotonic()
    card = await staff.report()
    assert time.monotonic() - started >= PACING.chat_caps[0][1]
    assert card.pressable() == ["ack:1", "done:1", "decline:1"]
    assert len(staff.inbox()) == 1
    sends = [code for path, code in staff.wecom.calls if path == "message/send"]
    assert sends == [45009, 0]

    # a member the app can no longer reach (81013): the next card goes by SMS instead
    staff.wecom.members.discard(MANAGER)
    url = f"{staff.public_url}/twilio/sms"
    await staff.twilio.text(RESIDENT, BGY, "72号楼门口的路灯坏了，晚上很黑", url=url)
    phone = "+8613800000012"  # 郑经理's phone in the directory
    await until(lambda: any("#2" in m.body for m in staff.twilio.inbox(phone)), 15)
    assert len(staff.inbox()) == 1
