"""The duplicate drill's residents and managers: every update, SMS and button press delivered
``copies`` times (the same update again, the same MessageSid), each until the bot takes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlmodel import col, select

from bench.drills_common import (
    Retries,
    WebhookTelegram,
    first_message,
    question,
    text_until_taken,
    until_taken,
)
from bot.runtime import Stack
from bot.services.unit.context import ServiceContext
from core.directory import Directory
from db.models import Case
from sandbox.telegram import Sent
from sandbox.twilio import Reply, TwilioEmulator, new_sid

FIRST_RESIDENT = 800_001
WAIT = 30.0
CATEGORIES = 10


# ---- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    """The stack, the emulators, and what the drill delivered."""

    stack: Stack
    telegram: WebhookTelegram
    twilio: TwilioEmulator
    ctx: ServiceContext
    public_url: str
    copies: int
    communities: list[tuple[str, str, int | None, str | None]]  # id, number, manager tg, phone
    twiml: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # sid: phone, answer
    answers_differ: int = 0
    repeats: int = 0
    retries: Retries = field(default_factory=Retries)
    failures: list[str] = field(default_factory=list)

    async def update(self, send: Callable[[], Awaitable[int]]) -> int:
        """Deliver an update (``user_says``/``user_presses``), then the same update again
        ``copies - 1`` times at once. A webhook that fails gets the update again, as Telegram
        does, until it answers 200."""
        update_id = await until_taken(self.telegram, send, seconds=WAIT, retries=self.retries)

        async def replay() -> int:
            await self.telegram.replay(update_id)
            return update_id

        await asyncio.gather(
            *(
                until_taken(self.telegram, replay, seconds=WAIT, retries=self.retries)
                for _ in range(self.copies - 1)
            )
        )
        self.repeats += self.copies - 1
        return update_id

    async def text(self, phone: str, to: str, body: str) -> Reply:
        """Post an SMS ``copies`` times at once, all with the same MessageSid (each posted again
        until answered 200, as Twilio retries)."""
        sid, url = new_sid("SM"), f"{self.public_url}/twilio/sms"
        first, *again = await asyncio.gather(
            *(
                text_until_taken(
                    self.twilio,
                    phone,
                    to,
                    body,
                    url=url,
                    sid=sid,
                    seconds=WAIT,
                    retries=self.retries,
                )
                for _ in range(self.copies)
            )
        )
        self.repeats += self.copies - 1
        self.answers_differ += sum(1 for r in again if r.messages != first.messages)
        self.twiml[sid] = (phone, first.messages)
        return first


async def _case_of(ctx: ServiceContext, marker: str) -> int:
    """The number of the case whose description carries ``marker`` (waiting for it)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        async with ctx.db.reading() as session:
            query = select(Case.number).where(col(Case.description).contains(marker))
            found = (await session.exec(query)).first()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no case for {marker}")


async def _manager_acts(world: World, community: int, number: int) -> None:
    """The case's manager acknowledges, then resolves: buttons on Telegram, else by SMS."""
    _, sms_number, manager, phone = world.communities[community]
    if manager is not None:
        telegram = world.telegram
        card = await first_message(
            telegram, manager, lambda m: f"ack:{number}" in m.button_data(), seen=0, seconds=WAIT
        )
        await world.update(lambda: telegram.user_presses(manager, card, f"ack:{number}"))
        await world.update(lambda: telegram.user_presses(manager, card, f"done:{number}"))
    else:
        assert phone is not None
        await world.text(phone, sms_number, f"A{number}")
        await world.text(phone, sms_number, f"D{number}")


async def telegram_resident(world: World, index: int) -> None:
    """Report by the guided flow, see it through, rate it satisfied."""
    telegram, user = world.telegram, FIRST_RESIDENT + index
    marker = f"dup-t{index:04d}"
    community = index % len(world.communities)

    async def say(text: str, then: str) -> Sent:
        seen = len(telegram.inbox(user))
        await world.update(lambda: telegram.user_says(user, text))
        return await question(telegram, user, then, seen=seen, seconds=WAIT)

    async def choose(asked: Sent, data: str, then: str | None) -> Sent | None:
        seen = len(telegram.inbox(user))
        await world.update(lambda: telegram.user_presses(user, asked, data))
        return await question(telegram, user, then, seen=seen, seconds=WAIT) if then else None

    asked = await say("/report", "category")
    chosen = await choose(asked, f"r:category:{index % CATEGORIES}", "community")
    assert chosen is not None
    chosen = await choose(chosen, f"r:community:{community}", "location")
    await say("3号楼北门", "description")
    asked = await say(f"门口的路灯坏了 {marker}", "photos")
    chosen = await choose(asked, "r:photos:skip", "confirm")
    assert chosen is not None
    await choose(chosen, "r:confirm:ok", None)
    number = await _case_of(world.ctx, marker)
    await _manager_acts(world, community, number)
    rate = f"rate:{number}:1"
    prompt = await first_message(
        telegram, user, lambda m: rate in m.button_data(), seen=0, seconds=WAIT
    )
    await world.update(lambda: telegram.user_presses(user, prompt, rate))


async def sms_resident(world: World, index: int) -> None:
    """Report by text to a community's number, see it through, rate it satisfied ("1")."""
    phone, marker = f"+86136{index:08d}", f"dup-s{index:04d}"
    community = (index + 3) % len(world.communities)
    number_to = world.communities[community][1]
    await world.text(phone, number_to, f"楼道里堆满了快递包裹 {marker}")
    number = await _case_of(world.ctx, marker)
    await _manager_acts(world, community, number)
    await world.text(phone, number_to, "1")


async def guarded(world: World, name: str, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as error:  # counted and shown; the other residents go on
        world.failures.append(f"{name}: {type(error).__name__}: {error}")


def communities_of(directory: Directory) -> list[tuple[str, str, int | None, str | None]]:
    """Each community: id, SMS number, its manager's Telegram id (or None) and phone."""
    managers = {r.community: r.manager for r in directory.routing}
    people = {p.id: p for p in directory.people}
    found = []
    for community in sorted(directory.communities, key=lambda c: c.id):
        manager = people[managers[community.id]]
        assert community.sms_number is not None
        found.append((community.id, community.sms_number, manager.telegram_id, manager.phone))
    return found
