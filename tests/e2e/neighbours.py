"""Issue 23's street: both channels, the console, and a directory with more neighbours at 嘉州水郡
南区 (one of them English) and a category whose follow window is seconds — on a database a child
process (``wolaiban stats``) can open by its URL alone."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext
from core.directory import Directory
from core.directory_checks import validate_directory
from db.engine import open_database
from db.models import Case, CaseEvent, CaseFollower
from sandbox.child import clean_env
from sandbox.harness import example_data, running_stack, serve_emulators, until
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import Sent, TelegramEmulator
from sandbox.twilio import Reply, TwilioEmulator
from tests.e2e.channels import Both
from tests.e2e.conftest import Running, labels
from tests.e2e.process import child_database
from tests.e2e.sms_stack import settled

# People of the example directory, and the neighbours added here.
LI = 4001  # 李大爷, r-jzsj-172, building 172
STAFF = 1001  # 刘博, staff of jzsj-south
MANAGER = 2001  # 王经理, mgr-jzsj-south
TOM = 4011  # Tom Baker, building 172, English
ZHOU = 4012  # 周阿姨, building 173
SOUTH_NUMBER = "+8610690000001"  # 嘉州水郡南区's own SMS number
BGY_NUMBER = "+8610690000002"  # 碧桂园北区's
HE = "+8613900000002"  # 何女士, 碧桂园北区 building 72, SMS only
NEIGHBOUR = "+8613900000031"  # in no directory: a neighbour who texts the community's number
NOISE_WINDOW = 4.0  # seconds: the noise category's follow window in this directory

CONSOLE_SECRET = "neighbours-console-secret-0123456789"
CARD = "📋 新诉求"  # how a manager's card of a new case begins
WHERE = "172号楼门口"  # where 李大爷's parcels are
PARCELS = {"zh": "快递堆放占道", "en": "Parcels blocking the way"}
NOISE = {"zh": "噪音扰民", "en": "Noise"}
NEW_PROBLEM = {"zh": "不是，这是新问题", "en": "No, this is a new problem"}
CASE_NUMBER = re.compile(r"#(\d+)")
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
FIELD = re.compile(r"<input\b[^>]*>", re.S)
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def neighbours_directory() -> Directory:
    """The example directory, no quiet hours, two more residents of 嘉州水郡南区, and a noise
    category whose open cases are offered for ``NOISE_WINDOW`` seconds only."""
    data = example_data(quiet_hours=None)
    data["people"] += [
        {
            "id": "r-jzsj-172-tom",
            "name": "Tom Baker",
            "role": "resident",
            "telegram_id": TOM,
            "language": "en",
            "community": "jzsj-south",
            "building": "172",
        },
        {
            "id": "r-jzsj-173",
            "name": "周阿姨",
            "role": "resident",
            "telegram_id": ZHOU,
            "language": "zh",
            "community": "jzsj-south",
            "building": "173",
        },
    ]
    for category in data["categories"]:
        if category["id"] == "noise":
            category["follow_window"] = f"{NOISE_WINDOW:.0f}s"
    directory = validate_directory(data)
    assert not isinstance(directory, list), directory
    return directory


@dataclass
class Street:
    """The running stack seen by its people: Telegram chats (``chat``), phones, the console."""

    chat: Running
    twilio: TwilioEmulator
    ctx: ServiceContext
    url: str  # the stack's own HTTP address
    database_url: str

    @property
    def telegram(self) -> TelegramEmulator:
        return self.chat.telegram

    # ---- Telegram: the guided report up to the step after the place -------------------------

    async def to_place(self, user: int, category: str, place: str) -> Sent:
        """``user`` starts a report of ``category`` and gives ``place`` (the building's button
        when there is one reading so, else typed); the bot's next question."""
        ask = await self.chat.say(user, "/report")
        ask = await self.chat.press_label(user, ask, category)
        if place in labels(ask):
            return await self.chat.press_label(user, ask, place)
        return await self.chat.say(user, place)

    async def finish(self, user: int, ask: Sent, description: str) -> int:
        """From the description question: describe, no photos, submit; the new case's number."""
        assert "r:description:x" in ask.button_data(), (ask.text, labels(ask))
        ask = await self.chat.say(user, description)
        ask = await self.chat.press(user, ask, ask.button_data()[0])  # no photos
        received = await self.chat.press(user, ask, ask.button_data()[0])  # submit
        found = CASE_NUMBER.search(received.text)
        assert found is not None, received.text
        return int(found.group(1))

    async def report(self, user: int, category: str, place: str, description: str) -> int:
        """A whole guided report where nothing is offered; the new case's number."""
        ask = await self.to_place(user, category, place)
        assert not offered(ask), (ask.text, labels(ask))
        return await self.finish(user, ask, description)

    async def first_report(self) -> int:
        """李大爷 reports the parcels at 172 — the first to, nothing open is offered him."""
        return await self.report(LI, PARCELS["zh"], WHERE, "快递和快递车堆在马路上")

    # ---- SMS ----------------------------------------------------------------------------------

    async def text(self, phone: str, to: str, body: str) -> Reply:
        """``phone`` texts ``to``; the bot's TwiML answer (checked to be a 200)."""
        reply = await self.twilio.text(phone, to, body, url=f"{self.url}/twilio/sms")
        assert reply.status_code == 200, reply.body
        return reply

    def sms_to(self, phone: str, *parts: str) -> list[str]:
        """The SMS ``phone`` was sent (replies included) that contain every one of ``parts``."""
        return [m.body for m in self.twilio.inbox(phone) if all(p in m.body for p in parts)]

    async def sms_until(self, phone: str, *parts: str) -> None:
        """Wait until ``phone`` has an SMS containing every one of ``parts``."""
        await until(lambda: bool(self.sms_to(phone, *parts)))

    async def settled(self) -> None:
        """Until every message due has gone out and Twilio reported on each."""
        await settled(Both(self.chat.stack, self.telegram, self.twilio, self.ctx, self.url))

    # ---- the database and the command line ----------------------------------------------------

    async def cases(self) -> list[Case]:
        return await self.chat.cases()

    async def followers(self, number: int) -> list[tuple[str, str, int | None]]:
        """Who follows case ``number``: (person, channel, the case they came from), by person."""
        async with self.ctx.db.reading() as session:
            query = select(CaseFollower).where(CaseFollower.case_number == number)
            rows = (await session.exec(query.order_by(col(CaseFollower.person_id)))).all()
        return [(r.person_id, r.channel, r.via_case) for r in rows]

    async def state(self) -> dict[str, list[dict[str, Any]]]:
        """What a merge or a follow writes: every case, event and follower row."""
        found: dict[str, list[dict[str, Any]]] = {}
        async with self.ctx.db.reading() as session:
            for model in (Case, CaseEvent, CaseFollower):
                rows = (await session.exec(select(model))).all()
                found[model.__name__] = sorted((r.model_dump() for r in rows), key=repr)
        return found

    async def stats(self) -> dict[str, Any]:
        """``wolaiban stats --json`` on this database, as an operator runs it."""
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", "stats", "--json"],
            env=clean_env(DATABASE_URL=self.database_url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    # ---- the console ------------------------------------------------------------------------

    @asynccontextmanager
    async def console(self, person_id: str) -> AsyncIterator[httpx.AsyncClient]:
        """A browser signed in to the console as ``person_id`` (by a one-time link)."""
        token, _ = await signin.issue_token(self.ctx, person_id=person_id)
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as browser:
            shown = await browser.get(f"/console/login/{token}")
            action, fields, _ = forms(shown.text)[0]
            signed = await browser.post(action or f"/console/login/{token}", data=fields)
            assert signed.status_code in (200, 303), signed.text[:300]
            yield browser


def cards(run: Street) -> int:
    """How many new-case cards 王经理 was sent."""
    return sum(m.text.startswith(CARD) for m in run.telegram.inbox(MANAGER))


def offered(message: Sent) -> list[str]:
    """The open cases a message offers to follow: its buttons reading ``#<n> · …``."""
    return [label for label in labels(message) if label.startswith("#")]


def forms(page: str) -> list[tuple[str, dict[str, str], str]]:
    """Each form of an HTML page: where it posts, its hidden and pre-filled fields, its text."""
    found = []
    for block in FORM.findall(page):
        head = dict(ATTRIBUTE.findall(block[: block.index(">")]))
        fields: dict[str, str] = {}
        for tag in FIELD.findall(block):
            attributes = dict(ATTRIBUTE.findall(tag))
            if "name" in attributes:
                fields[attributes["name"]] = unescape(attributes.get("value", ""))
        text = unescape(re.sub(r"<[^>]+>", " ", block))
        found.append((unescape(head.get("action", "")), fields, " ".join(text.split())))
    return found


async def press_form(
    browser: httpx.AsyncClient, path: str, words: str, **values: str
) -> httpx.Response:
    """On the console page at ``path``, submit the form whose text reads ``words`` (as a person
    would press its button), with ``values`` typed into it; the answer, redirects followed."""
    page = await browser.get(path)
    assert page.status_code == 200, page.text[:300]
    chosen = [f for f in forms(page.text) if words in f[2]]
    assert chosen, f"no form reading {words!r} on {path}: {[f[2] for f in forms(page.text)]}"
    action, fields, _ = chosen[0]
    answer = await browser.post(action or path, data={**fields, **values})
    if answer.status_code in (302, 303) and "location" in answer.headers:
        return await browser.get(answer.headers["location"])
    return answer


@asynccontextmanager
async def street(backend: str, folder: Path) -> AsyncIterator[Street]:
    """Everything started on a fresh database of ``backend`` with the neighbours' directory."""
    telegram = TelegramEmulator(limits=TelegramLimits(private_interval=0.05))
    directory = neighbours_directory()
    for person in directory.people:
        if person.telegram_id is not None:
            telegram.add_user(person.telegram_id, str(person.name), person.language or "zh")
    twilio = TwilioEmulator()
    async with child_database(backend, folder) as database_url:
        db = open_database(database_url)
        try:
            ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
            await load_directory(ctx, directory)
            async with (
                serve_emulators(telegram, twilio) as emulators,
                running_stack(
                    ctx,
                    emulators,
                    telegram_chat_interval=0.05,
                    sms_per_second=50,
                    console_secret=CONSOLE_SECRET,
                ) as stack,
            ):
                chat = Running(stack, telegram, ctx, stack.settings)
                url = f"http://127.0.0.1:{stack.port}"
                twilio.forward = {stack.settings.public_url.rstrip("/"): url}
                yield Street(chat, twilio, ctx, url, database_url)
        finally:
            await db.dispose()
