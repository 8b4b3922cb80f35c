"""The demo's three stories with staff, managers and supervisors on WeCom (企业微信) and
residents on WeChat customer service (微信客服): members press their cards' buttons, residents
answer the guided report's menus and rate by menu, and 何女士, silent past WeChat's 48-hour
window once, is told by SMS. What each person does is kept for the transcript
(``demo_wecom_view``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import col, select

from core.texts import render
from db.models import Identity, Person
from sandbox.demo_script import NEIGHBOUR, Line, Script, StoryFailed
from sandbox.demo_wecom_people import HE, KFID, LI, LV, SILENT_HOURS
from sandbox.wecom import WeComEmulator
from sandbox.wecom_state import AppMessage, KfMessage, Posted

WECOM, WECHAT = "WeCom", "WeChat"  # the transcript's names of the two channels
PREFIXES = {"wecom": "wc", "wechat": "wx"}  # a person's key in ``names``, by channel
MEMBERS = {
    "wang": "mgr-jzsj-south",  # 王经理
    "zheng": "mgr-bgy-north",  # 郑经理
    "sun": "sup-yuanxiang",  # 孙主管
    "yang": "yangzhao",  # 杨钊, staff of 原香小镇
}


def wecom_clock(wecom: WeComEmulator) -> Callable[[], datetime]:
    """The bot's clock: WeCom's (the real one, moved on when the story lets time pass)."""
    return lambda: datetime.fromtimestamp(wecom.clock.now(), UTC)


@dataclass
class Pressed:
    """A member's press on a card: when, and how many updates the card had before it."""

    at: float
    msgid: str
    before: int


@dataclass
class WeComScript(Script):
    """Plays the stories against the WeCom, WeChat and Twilio emulators (no Telegram here: the
    base's emulator is never served)."""

    wecom: WeComEmulator = field(default_factory=WeComEmulator)
    wechat_names: dict[str, str] = field(default_factory=dict)  # the residents, by WeChat id
    communities: dict[str, str] = field(default_factory=dict)  # their names, as menus show them
    pressed: list[Pressed] = field(default_factory=list)
    shown: dict[str, list[str]] = field(default_factory=dict)  # a card's buttons before presses
    jumps: list[tuple[float, float]] = field(default_factory=list)  # (wall time, seconds)

    # ---- the people's actions ---------------------------------------------------------------

    async def _names(self) -> None:
        await super()._names()  # who is who by phone
        accounts = (
            select(Identity.channel, Identity.address, Person.name)
            .join(Person, col(Person.id) == col(Identity.person_id))
            .where(col(Identity.channel).in_(PREFIXES))
        )
        async with self.ctx.db.reading() as session:
            for channel, address, name in (await session.exec(accounts)).all():
                self.names[f"{PREFIXES[channel]}:{address}"] = name
                if channel == "wecom":
                    self.wecom.add_member(address)  # a member of the corp, in the app's range
        for user, name in self.wechat_names.items():
            self.names.setdefault(f"wx:{user}", name)

    def _said(self, who: str, channel: str, text: str) -> None:
        self.said.append(Line(time.monotonic(), self._who(who), channel, text, incoming=False))

    @staticmethod
    def _answered(posted: Posted, what: str) -> None:
        if (posted.status_code, posted.text) != (200, "success"):
            raise StoryFailed(f"{what}: WeCom's callback answered {posted.status_code}")

    async def member_presses(self, userid: str, message: AppMessage, key: str) -> None:
        """A member presses a button of a card they received (shown by its label)."""
        card = message.card
        if card is None:
            raise StoryFailed(f"message {message.msgid} to {userid} is not a card")
        label = next((b.text for b in card.buttons if b.key == key), key)
        self.shown.setdefault(message.msgid, [b.text for b in card.buttons])
        self._said(f"wc:{userid}", WECOM, f"[{label}]")
        self.pressed.append(Pressed(time.monotonic(), message.msgid, len(card.updates)))
        self._answered(await self.wecom.member_presses(userid, card, key), f"{userid} presses")

    async def resident_says(self, user: str, text: str) -> None:
        """A resident writes to the community's customer-service account."""
        self._said(f"wx:{user}", WECHAT, text)
        self._answered(await self.wecom.resident_says(KFID, user, text), "a resident writes")

    async def resident_clicks(self, user: str, item_id: str) -> None:
        """A resident clicks a menu item they were sent (shown by its words)."""
        items = [i for m in self.wecom.kf_inbox(KFID, user) for i in m.items if i.id == item_id]
        self._said(f"wx:{user}", WECHAT, f"[{items[-1].content if items else item_id}]")
        posted = await self.wecom.resident_clicks(KFID, user, item_id)
        self._answered(posted, "a resident clicks")

    async def card_with(self, userid: str, what: str, key: str) -> AppMessage:
        """The newest card to member ``userid`` that offers the button ``key``."""

        def found() -> AppMessage | None:
            for message in reversed(self.wecom.inbox(userid)):
                if message.card is not None and key in message.card.pressable():
                    return message
            return None

        await self.until(what, lambda: found() is not None)
        message = found()
        assert message is not None
        return message

    async def item(self, user: str, what: str, prefix: str, words: str | None = None) -> str:
        """The id of the newest menu item to ``user`` whose id starts with ``prefix`` (and whose
        words are ``words``, when given)."""

        def found() -> str | None:
            for message in reversed(self.wecom.kf_inbox(KFID, user)):
                for entry in message.items:
                    if entry.id.startswith(prefix) and words in (None, entry.content):
                        return entry.id
            return None

        await self.until(what, lambda: found() is not None)
        return found() or ""

    def later(self, hours: int, who: str) -> None:
        """Time passes for WeCom and the bot alike (marked in the transcript)."""
        self.jumps.append((time.time(), hours * 3600.0))
        self.wecom.advance(hours * 3600.0)  # the bot's clock is WeCom's (``wecom_clock``)
        mark = render(self.language, "demo.later", hours=hours, name=self._who(who))
        self.said.append(Line(time.monotonic(), "", "", mark, incoming=False))

    def _kf(self, user: str) -> list[KfMessage]:
        return self.wecom.kf_inbox(KFID, user)

    # ---- the stories ------------------------------------------------------------------------

    async def _report(
        self, user: str, category: str, community: str, where: str, what: str
    ) -> None:
        """The guided report by menus (a resident new on WeChat is asked their community too),
        the place and the words written, no photos."""
        seen = len(self._kf(user))
        await self.resident_says(user, "/report")
        await self.until("the report's menus", lambda: len(self._kf(user)) > seen)
        await self.resident_clicks(
            user, await self.item(user, "a category", "r:category:", category)
        )
        named = self.communities[community]
        await self.resident_clicks(
            user, await self.item(user, "a community", "r:community:", named)
        )
        await self.item(user, "the location question", "r:location:x")
        await self.resident_says(user, where)
        await self.item(user, "the description question", "r:description:x")
        await self.resident_says(user, what)
        await self.resident_clicks(user, await self.item(user, "the photos", "r:photos:skip"))
        await self.resident_clicks(user, await self.item(user, "the confirmation", "r:confirm:ok"))

    async def story_parcels(self, lines: dict[str, str]) -> None:
        """1. 嘉州水郡南区: parcels piled on the road at building 172, reported on WeChat by
        menus; a neighbour texts the same and follows #1; the manager presses on WeCom."""
        manager = MEMBERS["wang"]
        name = await self.category_name("parcels")
        await self._report(LI, name, "jzsj-south", lines["parcels_where"], lines["parcels_what"])
        await self.until_case("story 1: reported", 1, "assigned")
        await self.neighbour_follows(lines)
        card = await self.card_with(manager, "story 1: the manager's case card", "ack:1")
        await self.member_presses(manager, card, "ack:1")
        await self.until_case("story 1: acknowledged", 1, "acknowledged")
        card = await self.card_with(manager, "story 1: the card brought up to date", "done:1")
        await self.member_presses(manager, card, "done:1")
        await self.resident_clicks(LI, await self.item(LI, "story 1: the rating", "rate:1:1"))
        await self.until_case("story 1: closed satisfied", 1, "closed")
        closed = render(self.language, "case.f_closed", number=1)
        await self.until(
            "story 1: the neighbour hears #1 closed", lambda: self.texted(NEIGHBOUR, closed)
        )

    async def story_waste(self, lines: dict[str, str]) -> None:
        """2. 碧桂园北区: construction waste behind building 72, written on WeChat; reopened once;
        silent for two days, 何女士 hears #2 done again by SMS and rates by SMS."""
        manager, phone, community_number = MEMBERS["zheng"], "+8613900000002", "+8610690000002"
        await self.resident_says(HE, lines["waste_sms"])
        card = await self.card_with(manager, "story 2: the manager's case card", "ack:2")
        await self.member_presses(manager, card, "ack:2")
        await self.until_case("story 2: acknowledged", 2, "acknowledged")
        card = await self.card_with(manager, "story 2: the card brought up to date", "done:2")
        await self.member_presses(manager, card, "done:2")
        await self.until_case("story 2: resolved", 2, "resolved")
        rated = await self.item(HE, "story 2: the rating", "rate:2:3")
        seen = len(self._kf(HE))
        await self.resident_clicks(HE, rated)
        await self.until("story 2: asked why", lambda: len(self._kf(HE)) > seen)
        await self.resident_says(HE, lines["waste_reason"])
        await self.until_case("story 2: reopened", 2, "assigned")
        again = await self.card_with(manager, "story 2: the reopened case", "ack:2")
        await self.member_presses(manager, again, "ack:2")
        await self.until_case("story 2: acknowledged again", 2, "acknowledged")
        await self.settled()
        self.later(SILENT_HOURS, f"wx:{HE}")
        again = await self.card_with(manager, "story 2: the card brought up to date", "done:2")
        await self.member_presses(manager, again, "done:2")
        await self.until_case("story 2: resolved again", 2, "resolved")
        await self.until(
            "story 2: the rating request by SMS, past WeChat's window",
            lambda: any("#2" in m.body for m in self.twilio.inbox(phone)),
        )
        await self.texts(phone, community_number, "1")
        await self.until_case("story 2: closed satisfied", 2, "closed")

    async def story_bench(self, lines: dict[str, str]) -> None:
        """3. 原香小镇: the broken bench; nobody acknowledges; it climbs to staff, who reassign."""
        supervisor, staff = MEMBERS["sun"], MEMBERS["yang"]
        name = await self.category_name("broken-facility")
        await self._report(LV, name, "yuanxiang", lines["bench_where"], lines["bench_what"])
        # The manager (SMS only) stays silent: reminders, then the supervisor, then staff.
        escalated = await self.card_with(staff, "story 3: escalation to staff", "reassign:3")
        # He asks after it: WeChat answers only 5 messages after a resident's last, and three
        # went (received, and the two climbs); writing opens his window anew.
        await self.resident_says(LV, "/mycases")
        await self.member_presses(staff, escalated, "reassign:3")
        who = self._who(f"wc:{supervisor}")
        choose = await self._choice(staff, "story 3: the managers to choose", "r:reassign:", who)
        await self.member_presses(staff, choose[0], choose[1])
        await self.until_case("story 3: reassigned", 3, "assigned")
        card = await self.card_with(supervisor, "story 3: the reassigned card", "ack:3")
        await self.member_presses(supervisor, card, "ack:3")
        await self.until_case("story 3: acknowledged", 3, "acknowledged")
        card = await self.card_with(supervisor, "story 3: the card brought up to date", "done:3")
        await self.member_presses(supervisor, card, "done:3")
        await self.resident_clicks(LV, await self.item(LV, "story 3: the rating", "rate:3:2"))
        await self.until_case("story 3: closed basically satisfied", 3, "closed")

    async def _choice(
        self, userid: str, what: str, prefix: str, label: str
    ) -> tuple[AppMessage, str]:
        """The card to ``userid`` offering a choice reading ``label``, and that choice's key."""

        def found() -> tuple[AppMessage, str] | None:
            for message in reversed(self.wecom.inbox(userid)):
                for button in message.card.buttons if message.card else []:
                    pressable = message.card is not None and message.card.replace_name is None
                    if pressable and button.key.startswith(prefix) and button.text == label:
                        return message, button.key
            return None

        await self.until(what, lambda: found() is not None)
        chosen = found()
        assert chosen is not None
        return chosen
