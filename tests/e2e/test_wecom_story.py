"""Issue 27's story end to end, through the WeCom emulator on loopback, on both databases: a
resident on WeChat customer service (微信客服) reports parcels on the road by menus, the manager
on WeCom (企业微信) gets the card with its buttons, acknowledges and resolves by pressing them,
and the resident rates by menu — the case closed satisfied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlmodel import col, select

from bot.channels import BOOK
from bot.directory_file import validate_file_data
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from core.directory import Directory
from db import queries
from db.engine import Database
from db.models import Case, CaseEvent
from sandbox.harness import (
    add_wecom_members,
    example_data,
    running_stack,
    serve_emulators,
    until,
)
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator
from sandbox.wecom import WeComEmulator
from sandbox.wecom_state import AppMessage, KfMessage

KFID = "wkJzsjSouthCustomerService000001"  # the community's customer-service account
RESIDENT = "wmAJ2GCAAAlidaye172parcels00001"  # a resident new on WeChat (an external_userid)
MANAGER = "wangjl"  # 王经理 (mgr-jzsj-south), on WeCom here instead of Telegram
WHAT = "驿站的快递和快递车都堆在马路上，老人孩子出行很不方便"


@dataclass
class Story:
    """The stack with both WeCom apps on; the resident's chat and the manager's app."""

    wecom: WeComEmulator
    ctx: ServiceContext

    def chat(self) -> list[KfMessage]:
        return self.wecom.kf_inbox(KFID, RESIDENT)

    async def says(self, text: str, answers: int = 1) -> list[KfMessage]:
        """The resident writes; the ``answers`` messages customer service sends back."""
        seen = len(self.chat())
        posted = await self.wecom.resident_says(KFID, RESIDENT, text)
        assert (posted.status_code, posted.text) == (200, "success")
        await until(lambda: len(self.chat()) >= seen + answers)
        return self.chat()[seen : seen + answers]

    async def clicks(self, words: str) -> KfMessage:
        """The resident clicks the newest menu item reading ``words``; the answer."""
        items = [i for m in self.chat() for i in m.items if i.content == words]
        assert items, f"no item {words!r} in {[i.content for m in self.chat() for i in m.items]}"
        seen = len(self.chat())
        posted = await self.wecom.resident_clicks(KFID, RESIDENT, items[-1].id)
        assert (posted.status_code, posted.text) == (200, "success")
        await until(lambda: len(self.chat()) > seen)
        return self.chat()[seen]

    async def card(self) -> AppMessage:
        """The first card the manager got."""
        await until(lambda: any(m.card for m in self.wecom.inbox(MANAGER)))
        return next(m for m in self.wecom.inbox(MANAGER) if m.card is not None)

    async def presses(self, message: AppMessage, key: str) -> None:
        """The manager presses ``key`` on the card; once the card shows what the press did."""
        assert message.card is not None
        updates = len(message.card.updates)
        posted = await self.wecom.member_presses(MANAGER, message, key)
        assert (posted.status_code, posted.text) == (200, "success")
        await until(lambda: message.card is not None and len(message.card.updates) > updates)

    async def case(self) -> Case:
        """Case #1 as stored."""
        async with self.ctx.db.reading() as session:
            found = await queries.get_case(session=session, number=1)
        assert found is not None
        return found

    async def trail(self) -> list[str]:
        """Case #1's events as "kind/channel", in order."""
        query = select(CaseEvent.kind, CaseEvent.channel).where(CaseEvent.case_number == 1)
        async with self.ctx.db.reading() as session:
            rows = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
        return [f"{kind}/{channel}" for kind, channel in rows]


@asynccontextmanager
async def story(db: Database) -> AsyncIterator[Story]:
    """Everything on ``db`` with WeCom and customer service on, and 王经理 on WeCom (the file's
    ``wecom_userid``; WeCom's userids know no case) instead of Telegram; no quiet hours."""
    data = example_data(quiet_hours=None)
    manager = next(p for p in data["people"] if p["id"] == "mgr-jzsj-south")
    del manager["telegram_id"]
    manager["wecom_userid"] = "WangJL"
    directory = validate_file_data(data)
    assert isinstance(directory, Directory), directory
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    await load_directory(ctx, directory)
    wecom = WeComEmulator(open_kfid=KFID)
    add_wecom_members(wecom, directory)
    async with (
        serve_emulators(TelegramEmulator(), TwilioEmulator(), wecom=wecom) as emulators,
        running_stack(ctx, emulators, sms_per_second=50),
    ):
        yield Story(wecom, ctx)


async def test_parcels_reported_on_wechat_are_pressed_through_on_wecom_and_rated_by_menu(
    db: Database,
) -> None:
    async with story(db) as run:
        # The guided report: choices are menus, the rest is words.
        categories = await run.says("/report", answers=2)  # ten to a menu: two menus
        assert [m.kind for m in categories] == ["msgmenu", "msgmenu"]
        assert "快递堆放占道" in [i.content for i in categories[0].items]
        communities = await run.clicks("快递堆放占道")
        assert "嘉州水郡南区社区" in [i.content for i in communities.items]
        buildings = await run.clicks("嘉州水郡南区社区")
        assert [i.content for i in buildings.items][:2] == ["172", "173"]
        await run.clicks("172")
        photos = (await run.says(WHAT))[0]
        assert photos.item_ids()[0] == "r:photos:skip"
        summary = await run.clicks("不用照片")
        assert WHAT in summary.head
        received = await run.clicks("✅ 提交")
        assert "已收到您的诉求 #1" in received.text
        case = await run.case()
        assert (case.channel, case.category_id, case.location) == ("wechat", "parcels", "172")

        # The card reaches the manager on WeCom, with the case's buttons.
        card = await run.card()
        assert card.card is not None
        assert card.card.title == "📋 新诉求 #1"
        assert WHAT in card.card.text()
        assert card.card.pressable() == ["ack:1", "done:1", "decline:1"]

        # Pressing moves the case and the card, and the resident hears each step.
        seen = len(run.chat())
        await run.presses(card, "ack:1")
        assert (await run.case()).status == "acknowledged"
        assert card.card.desc == "—— 当前状态：处理中"
        await until(lambda: len(run.chat()) > seen)
        assert run.chat()[seen].text == "您的诉求 #1 已有负责人接单，正在处理。"
        await run.presses(card, "done:1")
        assert (await run.case()).status == "resolved"
        assert card.card.replace_name == "待评价"
        await until(lambda: len(run.chat()) > seen + 1)
        rating = run.chat()[seen + 1]
        assert rating.head == "负责人表示诉求 #1 已办好。请您评价："
        assert rating.item_ids() == ["rate:1:1", "rate:1:2", "rate:1:3"]

        # Rated by menu: closed satisfied, and both sides told.
        closed = await run.clicks("😊 满意")
        assert closed.text == "诉求 #1 已办结，感谢您的评价（满意）。"
        case = await run.case()
        assert (case.status, case.rating) == ("closed", "satisfied")
        await until(lambda: "诉求 #1 的居民评价：满意。" in run.wecom.last(MANAGER).text)
        assert await run.trail() == [
            "reported/wechat",
            "routed/system",
            "acknowledged/wecom",
            "resolved/wecom",
            "rated/wechat",
        ]
        assert run.wecom.staff.updates_refused == []
        assert not [call for call in run.wecom.calls if call[1] != 0]  # WeCom refused nothing
