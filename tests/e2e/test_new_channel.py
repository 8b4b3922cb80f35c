"""The seam a new channel plugs into: a tiny "loopback chat" adapter, registered only here,
carries a resident's report, the manager's answers and the rating — with no edit to the product.

The adapter is what docs/channels.md walks through: traits, a sender, one inbound route that
turns what arrives into the requests every channel makes.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.adapter import Wired, Wiring
from bot.channels import book_of
from bot.config import Settings
from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Outcome
from bot.delivery.pacing import Limits
from bot.runtime import Stack
from bot.services.cases import lifecycle
from bot.services.directory.load import load_directory
from bot.services.talk import messages, waiting
from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from bot.services.unit.limits import Limited
from bot.services.unit.traits import ChannelTraits
from core.buttons import Button, decode
from core.cases import Action, Rating
from db.engine import Database
from db.models import Case, CaseEvent, Identity
from sandbox.harness import example_directory, run_settings, until

CHANNEL = "loopback"


@dataclass(slots=True)
class LoopbackSender:
    """The way out: every message lands in ``inbox[address]``."""

    inbox: dict[str, list[tuple[str, list[list[Button]]]]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """Paced per chat."""
        return f"{CHANNEL}:{message.address}", False

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Deliver at once."""
        self.inbox.setdefault(message.address, []).append((message.text, message.buttons))
        return Delivered(f"lb-{next(self.ids)}")


@dataclass(slots=True)
class LoopbackAdapter:
    """A chat that speaks JSON: ``{"id", "from", "text"}`` or ``{"id", "from", "press"}``."""

    sender: LoopbackSender = field(default_factory=LoopbackSender)
    traits: ChannelTraits = field(default_factory=lambda: ChannelTraits(CHANNEL))

    def enabled(self, settings: Settings) -> bool:
        return True

    def wire(self, setup: Wiring) -> Wired:
        async def inbound(request: Request) -> Response:
            body = await request.json()
            said = Inbound(CHANNEL, str(body["id"]), address=str(body["from"]))
            # Handled before, or refused: the answer (if any) is in the outbox.
            with contextlib.suppress(AlreadyHandled, Limited, ServiceRefusal):
                await _handle(setup.ctx, said, body)
            setup.kick()
            return Response(status_code=204)

        return Wired(
            routes=[Route("/loopback", inbound, methods=["POST"])],
            sender=self.sender,
            pacing=Limits(per_second=100, chat_interval=0),
        )


async def _handle(ctx: ServiceContext, said: Inbound, body: dict[str, str]) -> None:
    """The requests every channel makes, from a loopback message."""
    if "text" in body:
        await messages.message(ctx, said, messages.Report(body["text"]), text=body["text"])
        return
    data = body["press"]
    if data.startswith("r:"):
        await waiting.answer(ctx, said, choice=data)
        return
    pressed = decode(data)
    assert pressed is not None
    rating = Rating.from_code(pressed.arg or "") if pressed.action is Action.RATE else None
    request = lifecycle.Request(pressed.action, rating=rating)
    await lifecycle.act_on(ctx, said, number=pressed.number, request=request)


@dataclass(slots=True)
class Loop:
    """The running stack with the loopback channel, and a client for it."""

    stack: Stack
    adapter: LoopbackAdapter
    client: httpx.AsyncClient
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def post(self, sender: str, **body: str) -> None:
        message = {"id": next(self.ids), "from": sender, **body}
        answer = await self.client.post("/loopback", json=message)
        assert answer.status_code == 204

    async def message(self, address: str, count: int) -> tuple[str, list[list[Button]]]:
        """The ``count``-th message (1 = first) that reached ``address``."""
        inbox = self.adapter.sender.inbox
        await until(lambda: len(inbox.get(address, [])) >= count, seconds=15)
        return inbox[address][count - 1]


@pytest.fixture
async def loop(db: Database) -> AsyncIterator[Loop]:
    adapter = LoopbackAdapter()
    ctx = ServiceContext(db=db, channels=book_of([adapter]), default_language="zh")
    directory = example_directory(quiet_hours=None)
    await load_directory(ctx, directory)
    # The people who act in their role have a loopback chat too (as an invite would bind one).
    async with db.transaction() as session:
        for person in directory.people:
            if person.role != "resident":
                session.add(
                    Identity(
                        person_id=person.id,
                        channel=CHANNEL,
                        address=person.id,
                        updated_at=ctx.clock(),
                    )
                )
    settings = run_settings(db.url, None)
    stack = Stack(settings, ctx, adapters=[adapter], scheduled_digests=False)
    await stack.start()
    base = f"http://127.0.0.1:{stack.port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            yield Loop(stack, adapter, client)
    finally:
        await stack.stop()


def _press(buttons: list[list[Button]], label_part: str) -> str:
    return next(b.data for row in buttons for b in row if label_part in b.label)


async def test_a_channel_registered_in_a_test_carries_a_case_from_report_to_rating(
    loop: Loop, db: Database
) -> None:
    resident = "neighbour-1"
    await loop.post(resident, text="3号楼门口的建筑垃圾没人清理")
    question, buttons = await loop.message(resident, 1)
    assert question.startswith("请选择您所在的社区")  # the shared community question, as buttons
    await loop.post(resident, press=_press(buttons, "嘉州水郡南区"))
    received, _ = await loop.message(resident, 2)
    assert "已收到您的诉求 #1" in received

    async with db.reading() as session:
        case = await session.get(Case, 1)
    assert case is not None
    assert (case.channel, case.category_id) == (CHANNEL, "construction-waste")
    manager = case.manager_id
    assert manager is not None
    card, card_buttons = await loop.message(manager, 1)
    assert card.startswith("📋 新诉求 #1")
    await loop.post(manager, press=_press(card_buttons, "接单"))
    told, _ = await loop.message(resident, 3)
    assert "已有负责人接单" in told
    await loop.post(manager, press="done:1")
    resolved, rating = await loop.message(resident, 4)
    assert "#1" in resolved
    await loop.post(resident, press=_press(rating, "满意"))
    closed, _ = await loop.message(resident, 5)
    assert "已办结" in closed

    async with db.reading() as session:
        case = await session.get(Case, 1)
        query = select(CaseEvent).where(CaseEvent.case_number == 1).order_by(col(CaseEvent.id))
        events = (await session.exec(query)).all()
    assert case is not None
    assert (case.status, case.rating) == ("closed", "satisfied")
    by_people = [(e.kind, e.channel) for e in events if e.actor_id is not None]
    assert by_people == [
        ("reported", CHANNEL),
        ("acknowledged", CHANNEL),
        ("resolved", CHANNEL),
        ("rated", CHANNEL),
    ]
