"""A resident on WeChat customer service (微信客服), through the WeCom emulator on loopback: the
guided report with menu choices, the case's updates, the rating by menu; messages pulled once
across restarts and instances; WeChat's reply window (48 hours, 5 messages) — past it the
message goes by SMS, or waits for the resident's next message, and the case page says which;
a forged callback changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.channels import BOOK
from bot.config import Settings
from bot.console.timeline import lines
from bot.runtime import Stack
from bot.services.directory.load import load_directory
from bot.services.staff.sent import case_outbox, parties, sent_messages
from bot.services.unit.context import ServiceContext
from bot.wecom.kf.pull import Puller
from db.engine import Database
from db.models import Case, Identity, InboundReceipt, OutboxMessage
from sandbox.harness import (
    Emulators,
    eventually,
    example_directory,
    new_stack,
    run_settings,
    serve_emulators,
    until,
)
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator
from sandbox.wecom import WeComEmulator
from sandbox.wecom_state import KfMessage

# WeCom's ids are 32 characters: the widest any address column must hold.
KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
MANAGER = 2001  # mgr-jzsj-south on Telegram, who gets the parcels' cases of jzsj-south
PHONE = "+8613900000777"


def resident(n: int) -> str:
    """A resident's external_userid."""
    return f"wmAJ2GCAAAme1XQRC-NI-q0_ZM9u{n:04d}"


@dataclass
class Shifted:
    """The bot's clock: the real one, moved forward with WeCom's when a test makes time pass."""

    offset: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Kf:
    """The stack with customer service on, the emulators, and the resident's side of the chat."""

    stack: Stack
    wecom: WeComEmulator
    telegram: TelegramEmulator
    twilio: TwilioEmulator
    ctx: ServiceContext
    clock: Shifted
    emulators: Emulators

    def inbox(self, user: str) -> list[KfMessage]:
        """What customer service sent the resident, oldest first."""
        return self.wecom.kf_inbox(KFID, user)

    async def next(self, user: str, seen: int, count: int = 1) -> list[KfMessage]:
        """The ``count`` messages the resident gets beyond the ``seen`` they had."""
        await until(lambda: len(self.inbox(user)) >= seen + count, 15)
        return self.inbox(user)[seen : seen + count]

    async def says(self, user: str, text: str, count: int = 1) -> list[KfMessage]:
        """The resident writes; what they get back."""
        seen = len(self.inbox(user))
        await self.wecom.resident_says(KFID, user, text)
        return await self.next(user, seen, count)

    async def clicks(self, user: str, label: str, count: int = 1) -> list[KfMessage]:
        """The resident clicks the item reading ``label`` of the menus they got; the answer."""
        items = [i for m in self.inbox(user) for i in m.items if i.content == label]
        assert items, (
            f"no menu item {label!r}: {[i.content for m in self.inbox(user) for i in m.items]}"
        )
        seen = len(self.inbox(user))
        await self.wecom.resident_clicks(KFID, user, items[-1].id)
        return await self.next(user, seen, count)

    @property
    def puller(self) -> Puller:
        """This stack's puller."""
        handle = self.stack.channels["wechat"].handle
        assert isinstance(handle, Puller)
        return handle

    def later(self, hours: float) -> None:
        """Time passes, for WeCom and for the bot alike."""
        self.wecom.advance(hours * 3600)
        self.clock.offset += timedelta(hours=hours)

    async def restart(self) -> None:
        """Stop the stack and start a new one on the same database and emulators."""
        await self.stack.stop()
        self.stack = new_stack(self.stack.settings, self.ctx)
        await self.stack.start()


def settings(db: Database, emulators: Emulators) -> Settings:
    """A run's settings on its own port (the emulator calls the newest run back)."""
    values: dict[str, Any] = {"telegram_chat_interval": 0.05, "sms_per_second": 50}
    return run_settings(db.url, emulators, **values)


@asynccontextmanager
async def kf_stack(db: Database) -> AsyncIterator[Kf]:
    """Everything on ``db`` with the example directory (no quiet hours: any hour is daytime)."""
    clock = Shifted()
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh", clock=clock)
    await load_directory(ctx, example_directory(quiet_hours=None))
    telegram = TelegramEmulator(limits=TelegramLimits(private_interval=0.05))
    telegram.add_user(MANAGER, "王经理")
    twilio, wecom = TwilioEmulator(), WeComEmulator()
    async with serve_emulators(telegram, twilio, wecom=wecom) as emulators:
        stack = new_stack(settings(db, emulators), ctx)
        await stack.start()
        try:
            yield Kf(stack, wecom, telegram, twilio, ctx, clock, emulators)
        finally:
            await stack.stop()


async def report(kf: Kf, user: str, description: str) -> int:
    """The resident walks the guided report by menus; the new case's number."""
    categories = await kf.says(user, "/report", count=2)  # ten categories a menu, then the rest
    assert categories[0].kind == "msgmenu"
    assert len(categories[0].items) == 10
    await kf.clicks(user, "快递堆放占道")
    await kf.clicks(user, "嘉州水郡南区社区")
    await kf.clicks(user, "172")
    photos = await kf.says(user, description)
    assert photos[0].item_ids() == ["r:photos:skip", "r:photos:x"]
    summary = await kf.clicks(user, "不用照片")
    assert description in summary[0].head
    received = await kf.clicks(user, summary[0].items[0].content)
    async with kf.ctx.db.reading() as session:
        case = (await session.exec(select(Case).where(Case.description == description))).one()
    assert case.number is not None
    assert f"#{case.number}" in received[0].text
    return case.number


async def card_of(kf: Kf, number: int) -> Any:
    """The manager's card of case ``number`` on Telegram."""
    await until(lambda: any(f"#{number}" in m.text for m in kf.telegram.inbox(MANAGER)), 15)
    return next(m for m in kf.telegram.inbox(MANAGER) if f"#{number}" in m.text)


async def acknowledged_49_hours_later(kf: Kf, number: int) -> None:
    """The resident is silent for 49 hours; then the manager takes the case."""
    kf.later(hours=49)
    card = await card_of(kf, number)
    await kf.telegram.user_presses(MANAGER, card, f"ack:{number}")


async def page(kf: Kf, number: int) -> list[tuple[str, str]]:
    """The case page's messages, as (channel, state) in the words the console shows."""
    async with kf.ctx.db.reading() as session:
        rows = await case_outbox(session, number)
        people = await parties(session, [r.person_id for r in rows])
    return [(line.channel, line.state) for line in lines(sent_messages(rows, UTC), people, "zh")]


async def test_a_resident_reports_by_menus_hears_each_step_and_rates_by_menu(db: Database) -> None:
    async with kf_stack(db) as kf:
        user = resident(1)
        number = await report(kf, user, "快递柜旁边堆满了快递箱，挡住了消防通道")
        case = await kf_case(db, number)
        assert (case.channel, case.category_id, case.location) == ("wechat", "parcels", "172")
        assert case.resident_id == f"wx-{user}"

        seen = len(kf.inbox(user))
        card = await card_of(kf, number)
        await kf.telegram.user_presses(MANAGER, card, f"ack:{number}")
        told = await kf.next(user, seen)
        assert told[0].text == f"您的诉求 #{number} 已有负责人接单，正在处理。"
        await kf.telegram.user_presses(MANAGER, card, f"done:{number}")
        resolved = (await kf.next(user, seen + 1))[0]
        assert resolved.kind == "msgmenu"
        assert resolved.head == f"负责人表示诉求 #{number} 已办好。请您评价："
        assert resolved.item_ids() == [f"rate:{number}:{code}" for code in "123"]
        closed = await kf.clicks(user, "😊 满意")
        assert closed[0].text == f"诉求 #{number} 已办结，感谢您的评价（满意）。"
        case = await kf_case(db, number)
        assert (case.status, case.rating) == ("closed", "satisfied")
        # Every inbound was pulled once: one receipt per message the resident sent.
        sent = [c.msgids for c in kf.wecom.sync_calls]
        pulled = [m for ids in sent for m in ids]
        assert len(pulled) == len(set(pulled)) == await receipts(db)


async def test_a_visit_is_welcomed_a_picture_is_declined_in_words(db: Database) -> None:
    async with kf_stack(db) as kf:
        user = resident(2)
        await kf.wecom.resident_enters(KFID, user)
        welcome = (await kf.next(user, 0))[0]
        assert welcome.on_event  # with the visit's code: the window is not open yet
        assert "我来办" in welcome.text or "欢迎" in welcome.text
        # The help waits for the resident's first message (no window, no other channel) …
        await eventually(lambda: waiting_for(db, user, 1))
        await kf.wecom.resident_sends_image(KFID, user)
        got = await kf.next(user, 1, count=2)
        assert "/report" in got[0].text  # … and goes first once they write
        assert got[1].text.startswith("这里只能收文字消息")


async def test_a_restart_between_pulls_reads_nothing_twice_and_skips_nothing(
    db: Database,
) -> None:
    async with kf_stack(db) as kf:
        user = resident(3)
        await kf.says(user, "/help")
        await kf.stack.stop()
        # Written while we are down: no signal reaches us; the next start pulls them.
        for _ in range(3):
            kf.wecom.queue_text(KFID, user, "/help")
        kf.stack = new_stack(kf.stack.settings, kf.ctx)
        await kf.stack.start()
        await kf.next(user, 1, count=3)
        await kf.wecom.resident_says(KFID, user, "/help")
        await kf.next(user, 4)
        await kf.puller.settled()
        assert len(kf.inbox(user)) == 5 == await receipts(db)
        pulled = [m for c in kf.wecom.sync_calls for m in c.msgids]
        assert len(pulled) == len(set(pulled)) == 5  # each read once, none skipped


async def test_two_instances_pulling_at_once_handle_each_message_once(db: Database) -> None:
    async with kf_stack(db) as kf:
        user = resident(4)
        for _ in range(4):  # WeChat answers at most 5 after the last of them
            kf.wecom.queue_text(KFID, user, "/help")
        other = new_stack(settings(db, kf.emulators), kf.ctx)
        await other.start()
        try:
            first, second = kf.puller, other.channels["wechat"].handle
            assert isinstance(second, Puller)
            counts = await asyncio.gather(first.pull(KFID), second.pull(KFID))
            assert sorted(counts) == [0, 4]  # one pulled, the other waited and found nothing
            await kf.next(user, 0, count=4)
            await asyncio.sleep(0.3)
            assert len(kf.inbox(user)) == 4 == await receipts(db)
        finally:
            await other.stop()


async def test_a_resident_silent_for_49_hours_is_reached_by_sms_and_the_page_says_so(
    db: Database,
) -> None:
    async with kf_stack(db) as kf:
        user = resident(5)
        number = await report(kf, user, "单元门口快递车挡路，老人出不去")
        async with db.transaction() as session:  # the resident gave their phone (as an invite)
            session.add(
                Identity(
                    person_id=f"wx-{user}", channel="sms", address=PHONE, updated_at=kf.clock()
                )
            )
        await acknowledged_49_hours_later(kf, number)
        await until(lambda: len(kf.twilio.inbox(PHONE)) >= 1, 15)
        assert f"#{number}" in kf.twilio.inbox(PHONE)[0].body
        assert ("kf/send_msg", OUTSIDE) not in kf.wecom.calls  # past the window: not attempted
        shown = await page(kf, number)
        assert ("微信客服", "未在此渠道发出：对方来信后的回复时限已过 · 已改由短信发送") in shown
        assert shown[-1][0] == "短信"


async def test_a_resident_with_no_phone_gets_the_message_when_they_next_write(
    db: Database,
) -> None:
    async with kf_stack(db) as kf:
        user = resident(6)
        number = await report(kf, user, "地库入口快递三轮车乱停")
        seen = len(kf.inbox(user))
        await acknowledged_49_hours_later(kf, number)
        await eventually(lambda: waiting_for(db, user, 1))
        assert len(kf.inbox(user)) == seen  # not attempted: WeCom was not asked
        shown = await page(kf, number)
        assert (
            "微信客服",
            "等对方下次发来消息后发出（此渠道只能在对方来信后的一段时间内回复）",
        ) in shown
        got = await kf.says(user, "/mycases", count=2)
        assert got[0].text == f"您的诉求 #{number} 已有负责人接单，正在处理。"
        assert ("微信客服", "已发送") in await page(kf, number)


async def test_a_forged_callback_is_refused_and_changes_nothing(db: Database) -> None:
    async with kf_stack(db) as kf:
        user = resident(7)
        kf.wecom.queue_text(KFID, user, "/help")  # waiting to be pulled: no forgery pulls it
        checked = await kf.wecom.verify_url("kf")
        assert (checked.status_code, checked.text) == (200, checked.expected)
        for how in ("signature", "token", "key", "receiver", "tampered", "unsigned"):
            forged = await kf.wecom.forged("kf", how)
            assert forged.status_code == 403, how
        await asyncio.sleep(0.3)
        assert kf.wecom.sync_calls == []
        assert kf.inbox(user) == []
        # The genuine signal pulls it; the same callback again pulls nothing new.
        signal = await kf.wecom.signal(KFID)
        assert (signal.status_code, signal.text) == (200, "success")
        await kf.next(user, 0)
        again = await kf.wecom.replay_last()
        assert (again.status_code, again.text) == (200, "success")
        await kf.puller.settled()
        await asyncio.sleep(0.3)
        assert len(kf.inbox(user)) == 1 == await receipts(db)


OUTSIDE = 95001


async def kf_case(db: Database, number: int) -> Case:
    """Case ``number`` as stored."""
    async with db.reading() as session:
        found = await session.get(Case, number)
    assert found is not None
    return found


async def receipts(db: Database) -> int:
    """How many customer-service messages were handled."""
    async with db.reading() as session:
        query = select(InboundReceipt).where(InboundReceipt.source == "wechat")
        return len((await session.exec(query)).all())


async def waiting_for(db: Database, user: str, count: int) -> bool:
    """Whether ``count`` messages to the resident wait for their next message."""
    async with db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.address == user, OutboxMessage.status == "pending"
        )
        rows = (await session.exec(query)).all()
    return sum(1 for r in rows if r.next_attempt_at.year >= 9999) == count
