"""The people of the demo and what they do, and the transcript of what each of them saw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from bot.delivery.store import outbox_messages
from bot.services.unit.context import ServiceContext
from core.texts import render
from db.models import Case, Category, Identity, Person
from sandbox.telegram import Sent, TelegramEmulator
from sandbox.twilio import TwilioEmulator

WAIT_SECONDS = 20.0
SOUTH_NUMBER = "+8610690000001"  # 嘉州水郡南区's own SMS number
NEIGHBOUR = "+8613900000031"  # a neighbour of building 172 the directory does not know

# What the residents say, in each language (the bot's own words come from its catalogs).
LINES = {
    "zh": {
        "parcels_where": "172号楼一层底商菜鸟驿站门口",
        "parcels_what": "驿站的快递和快递车都堆在马路上，老人孩子出行很不方便。",
        "neighbour": "邻居张女士",
        "parcels_sms": "172号楼门口快递堆满了，车都过不去。",
        "waste_sms": "72号楼后侧建筑垃圾存放处清理不及时，还有人乱扔垃圾。",
        "waste_reason": "只清了一半，还有人往这里扔，请把监控也调一下。",
        "bench_where": "1区西区5-6号楼之间长廊",
        "bench_what": "长廊的凳子坏了，居民没法坐，还有安全隐患。",
    },
    "en": {
        "parcels_where": "Outside the parcel station, ground floor of building 172",
        "parcels_what": "Parcels and delivery carts are piled on the road; it is hard to get by.",
        "neighbour": "Ms Zhang, a neighbour",
        "parcels_sms": "Parcels piled up at the gate of building 172, cars cannot get through.",
        "waste_sms": "Construction waste behind building 72 is not cleared and people dump more.",
        "waste_reason": "Only half cleared and people still dump there; please aim the camera too.",
        "bench_where": "Corridor between buildings 5 and 6, west of area 1",
        "bench_what": "The corridor bench is broken; nobody can sit and it is unsafe.",
    },
}


class StoryFailed(Exception):
    """A story did not reach its expected end; the message names the step."""


@dataclass
class Line:
    """One line of the transcript."""

    at: float
    who: str
    channel: str
    text: str
    buttons: list[str] = field(default_factory=list)
    incoming: bool = True  # the bot speaking to this person


@dataclass
class Script:
    """Plays the stories against the emulators."""

    telegram: TelegramEmulator
    twilio: TwilioEmulator
    ctx: ServiceContext
    language: str
    public_url: str
    names: dict[str, str] = field(default_factory=dict)
    said: list[Line] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    # ---- the people's actions ---------------------------------------------------------------

    async def _names(self) -> None:
        async with self.ctx.db.reading() as session:
            query = select(Person, Identity).join(
                Identity, col(Identity.person_id) == col(Person.id)
            )
            for person, identity in (await session.exec(query)).all():
                if identity.channel == "telegram":
                    self.names[f"tg:{identity.address}"] = person.name
                    self.telegram.add_user(int(identity.address), person.name, self.language)
                elif identity.channel == "sms":
                    self.names[f"sms:{identity.address}"] = person.name

    def _who(self, key: str) -> str:
        return self.names.get(key, key)

    async def says(self, user: int, text: str) -> None:
        """A Telegram user writes to the bot."""
        self.said.append(
            Line(time.monotonic(), self._who(f"tg:{user}"), "Telegram", text, incoming=False)
        )
        await self.telegram.user_says(user, text)

    async def presses(self, user: int, message: Sent, data: str) -> None:
        """A Telegram user presses a button (shown by its label)."""
        label = next(
            (b["text"] for r in message.buttons for b in r if b.get("callback_data") == data), data
        )
        self.said.append(
            Line(
                time.monotonic(), self._who(f"tg:{user}"), "Telegram", f"[{label}]", incoming=False
            )
        )
        await self.telegram.user_presses(user, message, data)

    async def texts(self, phone: str, to: str, body: str) -> None:
        """A phone sends an SMS to the bot's number."""
        self.said.append(
            Line(time.monotonic(), self._who(f"sms:{phone}"), "SMS", body, incoming=False)
        )
        reply = await self.twilio.text(phone, to, body, url=f"{self.public_url}/twilio/sms")
        if reply.status_code != 200:
            raise StoryFailed(f"SMS from {phone} answered {reply.status_code}")

    async def until(self, what: str, check: Callable[[], bool]) -> None:
        """Wait for ``check`` or fail the story at step ``what``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not check():
            if time.monotonic() > deadline:
                raise StoryFailed(what)
            await asyncio.sleep(0.05)

    async def message_with(self, user: int, what: str, data: str) -> Sent:
        """The newest message to ``user`` that offers the button ``data``."""

        def found() -> Sent | None:
            for message in reversed(self.telegram.inbox(user)):
                if data in message.button_data():
                    return message
            return None

        await self.until(what, lambda: found() is not None)
        message = found()
        assert message is not None
        return message

    async def category_name(self, category_id: str) -> str:
        """A category's name as the buttons show it."""
        async with self.ctx.db.reading() as session:
            category = await session.get(Category, category_id)
        if category is None:
            raise StoryFailed(f"no category {category_id}")
        return category.name_en if self.language == "en" else category.name_zh

    async def case_status(self, number: int) -> str:
        """Where a case stands now."""
        async with self.ctx.db.reading() as session:
            case = await session.get(Case, number)
        return case.status if case is not None else "missing"

    async def case_followers(self, number: int) -> int:
        """How many residents follow case ``number`` (its reporter not counted)."""
        async with self.ctx.db.reading() as session:
            case = await session.get(Case, number)
        return case.followers if case is not None else 0

    async def until_followed(self, what: str, number: int, followers: int) -> None:
        """Wait until ``followers`` residents follow case ``number``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while await self.case_followers(number) != followers:
            if time.monotonic() > deadline:
                raise StoryFailed(what)
            await asyncio.sleep(0.05)

    def texted(self, phone: str, text: str) -> bool:
        """Whether ``phone`` was sent an SMS containing ``text``."""
        return any(text in m.body for m in self.twilio.inbox(phone))

    async def until_case(self, what: str, number: int, status: str) -> None:
        """Wait until case ``number`` is in ``status``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while await self.case_status(number) != status:
            if time.monotonic() > deadline:
                raise StoryFailed(f"{what} (case #{number} is {await self.case_status(number)})")
            await asyncio.sleep(0.05)

    # ---- the stories ------------------------------------------------------------------------

    async def run_stories(self) -> None:
        """The three stories, one after another."""
        await self._names()
        lines = LINES[self.language]
        for story in (self.story_parcels, self.story_waste, self.story_bench):
            await story(lines)
            await self.settled()

    async def settled(self) -> None:
        """Until every message of the story so far has gone out (the transcript reads in order)."""

        async def waiting() -> bool:
            return bool(await outbox_messages(self.ctx))

        deadline = time.monotonic() + WAIT_SECONDS
        while await waiting():
            if time.monotonic() > deadline:
                raise StoryFailed("delivering the story's messages")
            await asyncio.sleep(0.05)

    async def _guided_report(self, user: int, category: str, where: str, what: str) -> None:
        await self.says(user, "/report")
        ask = await self.message_with(user, "the report's first question", "r:category:0")
        data = next(b["callback_data"] for r in ask.buttons for b in r if b["text"] == category)
        await self.presses(user, ask, data)
        await self.until(
            "the location question",
            lambda: "r:location:x" in self.telegram.last(user).button_data(),
        )
        await self.says(user, where)
        await self.until(
            "the description question",
            lambda: "r:description:x" in self.telegram.last(user).button_data(),
        )
        await self.says(user, what)
        photos = await self.message_with(user, "the photos question", "r:photos:skip")
        await self.presses(user, photos, "r:photos:skip")
        confirm = await self.message_with(user, "the confirmation", "r:confirm:ok")
        await self.presses(user, confirm, "r:confirm:ok")

    async def neighbour_follows(self, lines: dict[str, str]) -> None:
        """Story 1's neighbour: texts the same problem, is offered #1 and follows it (issue 23)."""
        self.names[f"sms:{NEIGHBOUR}"] = lines["neighbour"]
        await self.texts(NEIGHBOUR, SOUTH_NUMBER, lines["parcels_sms"])
        if not self.texted(NEIGHBOUR, "#1"):
            raise StoryFailed("story 1: the neighbour is offered #1")
        await self.texts(NEIGHBOUR, SOUTH_NUMBER, "1")  # "reply 1 to follow #1"
        await self.until_followed("story 1: the neighbour follows #1", 1, 1)

    async def story_parcels(self, lines: dict[str, str]) -> None:
        """1. 嘉州水郡南区: parcels piled on the road at building 172, reported on Telegram; a
        neighbour texts the same, is offered the open case and follows it instead (issue 23)."""
        resident, manager = 4001, 2001
        name = await self.category_name("parcels")
        await self._guided_report(resident, name, lines["parcels_where"], lines["parcels_what"])
        await self.until_case("story 1: reported", 1, "assigned")
        await self.neighbour_follows(lines)
        card = await self.message_with(manager, "story 1: the manager's case card", "ack:1")
        await self.presses(manager, card, "ack:1")
        await self.until_case("story 1: acknowledged", 1, "acknowledged")
        await self.presses(manager, card, "done:1")
        rating = await self.message_with(resident, "story 1: the rating buttons", "rate:1:1")
        await self.presses(resident, rating, "rate:1:1")
        await self.until_case("story 1: closed satisfied", 1, "closed")
        closed = render(self.language, "case.f_closed", number=1)
        await self.until(
            "story 1: the neighbour hears #1 closed", lambda: self.texted(NEIGHBOUR, closed)
        )

    async def story_waste(self, lines: dict[str, str]) -> None:
        """2. 碧桂园北区: construction waste behind building 72, by SMS; reopened once."""
        phone, community_number, manager = "+8613900000002", "+8610690000002", 2002
        await self.texts(phone, community_number, lines["waste_sms"])
        card = await self.message_with(manager, "story 2: the manager's case card", "ack:2")
        await self.presses(manager, card, "ack:2")
        await self.until_case("story 2: acknowledged", 2, "acknowledged")
        await self.presses(manager, card, "done:2")
        await self.until_case("story 2: resolved", 2, "resolved")
        await self.until(
            "story 2: the rating request by SMS",
            lambda: any(
                "#2" in m.body and "1" in m.body
                for m in self.twilio.inbox(phone)
                if m.direction == "outbound-api"
            ),
        )
        await self.texts(phone, community_number, render(self.language, "rating.dissatisfied"))
        await self.texts(phone, community_number, lines["waste_reason"])
        await self.until_case("story 2: reopened", 2, "assigned")
        again = await self.message_with(manager, "story 2: the reopened case", "ack:2")
        await self.presses(manager, again, "ack:2")
        await self.until_case("story 2: acknowledged again", 2, "acknowledged")
        await self.presses(manager, again, "done:2")
        await self.until_case("story 2: resolved again", 2, "resolved")
        await self.texts(phone, community_number, "1")
        await self.until_case("story 2: closed satisfied", 2, "closed")

    async def story_bench(self, lines: dict[str, str]) -> None:
        """3. 原香小镇: the broken bench; nobody acknowledges; it climbs to staff, who reassign."""
        resident, supervisor, staff = 4003, 3003, 1003
        name = await self.category_name("broken-facility")
        await self._guided_report(resident, name, lines["bench_where"], lines["bench_what"])
        # The manager (SMS only) stays silent: reminders, then the supervisor, then staff.
        escalated = await self.message_with(staff, "story 3: escalation to staff", "reassign:3")
        await self.presses(staff, escalated, "reassign:3")
        choose = await self.message_with(staff, "story 3: the managers to choose", "r:reassign:0")
        pick = next(b for r in choose.buttons for b in r if b["text"] == self._who("tg:3003"))
        await self.presses(staff, choose, pick["callback_data"])
        await self.until_case("story 3: reassigned", 3, "assigned")
        card = await self.message_with(supervisor, "story 3: the reassigned card", "ack:3")
        await self.presses(supervisor, card, "ack:3")
        await self.until_case("story 3: acknowledged", 3, "acknowledged")
        await self.presses(supervisor, card, "done:3")
        rating = await self.message_with(resident, "story 3: the rating buttons", "rate:3:2")
        await self.presses(resident, rating, "rate:3:2")
        await self.until_case("story 3: closed basically satisfied", 3, "closed")

    async def wait_for_digests(self, folder: Path) -> None:
        """Until each staff member has the digest text and chart; keep the charts."""
        for user in (1001, 1002, 1003):
            await self.until(
                "the digest",
                lambda u=user: any(  # type: ignore[misc]
                    m.photo for m in self.telegram.inbox(u)
                ),
            )
        for path, png in self.telegram.photos.items():
            (folder / f"digest-{path}.png").write_bytes(png)

    # ---- the transcript ---------------------------------------------------------------------

    def _status_of(self, text: str) -> str:
        """What an edit changed: a card's status line, with how many residents it concerns
        when others follow it; else its last line."""
        marks = tuple(
            render(self.language, key, **{name: "\0"}).split("\0")[0]
            for key, name in (("card.concerns", "concerns"), ("card.status", "status"))
        )
        shown = [line for line in text.splitlines() if line.startswith(marks)]
        return " · ".join(shown[-2:]) if shown else text.splitlines()[-1]

    def print_transcript(self) -> None:
        """Everything, in order: who, which channel, the text, the buttons."""
        lines = list(self.said)
        edited = render(self.language, "demo.edited")
        for chat, messages in self.telegram.chats.items():
            for m in (m for m in messages if m.from_bot):
                who = self._who(f"tg:{chat}")
                shown = m.history or [(m.at, m.text, m.buttons)]
                for index, (at, text, rows) in enumerate(shown):
                    # An edit changes the status line and the buttons: show just those.
                    said = f"{edited} {self._status_of(text)}" if index else text
                    labels = [b["text"] for row in rows for b in row]
                    mark = "📈 " if m.photo else ""
                    lines.append(Line(at, who, "Telegram", f"{mark}{said}", labels))
        for sms in self.twilio.sent:
            lines.append(Line(sms.at, self._who(f"sms:{sms.to}"), "SMS", sms.body))
        bot = render(self.language, "demo.bot")
        for line in sorted(lines, key=lambda item: item.at):
            stamp = f"{line.at - self.started:6.1f}s"
            arrow = f"{bot} → {line.who}" if line.incoming else f"{line.who} → {bot}"
            text = line.text.replace("\n", "\n" + " " * 10)
            print(f"{stamp}  {arrow} ({line.channel})\n          {text}")
            if line.buttons:
                print("          " + "  ".join(f"[{b}]" for b in line.buttons))
