"""The crash drill's plan and its residents: who reports when, by which channel, each delivery
repeated until the bot takes it, and the killer that SIGKILLs ``wolaiban run`` meanwhile."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.drills_common import Retries, WebhookTelegram, question, text_until_taken, until_taken
from sandbox.child import Process
from sandbox.telegram import Sent
from sandbox.twilio import TwilioEmulator, new_sid

FIRST_RESIDENT = 700_001
STEP_SECONDS = 90.0  # a question may wait out a killed process's lease (20 s) and more
CATEGORIES = 10  # in the example directory, "other" included
COMMUNITIES = 6


# ---- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One resident's report: by Telegram (the guided flow) or by SMS, started ``at`` seconds in."""

    index: int
    channel: str  # "telegram" or "sms"
    at: float
    category: int
    community: int

    @property
    def marker(self) -> str:
        """The tag in the description that finds its case."""
        return f"drill-{self.channel[0]}{self.index:04d}"

    @property
    def user(self) -> int:
        """The Telegram resident's user id."""
        return FIRST_RESIDENT + self.index

    @property
    def phone(self) -> str:
        """The SMS resident's number."""
        return f"+86137{self.index:08d}"


def plan(reports: int, window: float, kills: int, seed: int) -> tuple[list[Report], list[float]]:
    """Reports (half by each channel, shuffled) starting at random moments over ``window``
    seconds, and the ``kills`` random moments of the SIGKILLs in the same window."""
    rng = random.Random(seed)
    channels = ["telegram", "sms"] * (reports // 2) + ["telegram"] * (reports % 2)
    rng.shuffle(channels)
    planned = [
        Report(
            index=i,
            channel=channel,
            at=rng.uniform(0, window),
            category=rng.randrange(CATEGORIES),
            community=rng.randrange(COMMUNITIES),
        )
        for i, channel in enumerate(channels)
    ]
    moments = sorted(rng.uniform(0.5, window) for _ in range(kills))
    return planned, moments


# ---- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    """The emulators, the process and what happened to the reports."""

    telegram: WebhookTelegram
    twilio: TwilioEmulator
    process: Process
    public_url: str
    community_numbers: list[str]
    retries: Retries = field(default_factory=Retries)
    failures: list[str] = field(default_factory=list)
    finished: int = 0


async def _question(world: World, user: int, step: str, seen: int) -> Sent:
    return await question(world.telegram, user, step, seen=seen, seconds=STEP_SECONDS)


async def telegram_report(world: World, report: Report) -> None:
    """The guided report, each answer delivered until the bot takes it."""
    telegram, user = world.telegram, report.user
    description = f"快递车堵住了单元门口 {report.marker}"

    async def say(text: str, then: str) -> Sent:
        seen = len(telegram.inbox(user))
        await until_taken(telegram, lambda: telegram.user_says(user, text), retries=world.retries)
        return await _question(world, user, then, seen)

    async def press(question: Sent, data: str) -> int:
        return await until_taken(
            telegram, lambda: telegram.user_presses(user, question, data), retries=world.retries
        )

    async def choose(question: Sent, data: str, then: str) -> Sent:
        seen = len(telegram.inbox(user))
        await press(question, data)
        return await _question(world, user, then, seen)

    asked = await say("/report", "category")
    asked = await choose(asked, f"r:category:{report.category}", "community")
    asked = await choose(asked, f"r:community:{report.community}", "location")
    await say(f"{report.index % 9 + 1}号楼东侧", "description")
    asked = await say(description, "photos")
    asked = await choose(asked, "r:photos:skip", "confirm")
    await press(asked, "r:confirm:ok")


async def sms_report(world: World, report: Report) -> None:
    """A text to a community's number, posted again (same MessageSid) until answered 200."""
    await text_until_taken(
        world.twilio,
        report.phone,
        world.community_numbers[report.community],
        f"快递堆在{report.index % 9 + 1}号楼门口没人管 {report.marker}",
        url=f"{world.public_url}/twilio/sms",
        sid=new_sid("SM"),
        seconds=STEP_SECONDS,
        retries=world.retries,
    )


async def resident(world: World, report: Report, started: float) -> None:
    """Wait for the report's moment, then report; a failure is noted, not raised."""
    await asyncio.sleep(max(0.0, started + report.at - time.monotonic()))
    try:
        if report.channel == "telegram":
            await telegram_report(world, report)
        else:
            await sms_report(world, report)
        world.finished += 1
    except Exception as error:  # the drill goes on; the report is counted as not submitted
        world.failures.append(f"{report.marker}: {type(error).__name__}: {error}")


async def killer(world: World, moments: Sequence[float], started: float) -> None:
    """SIGKILL the process at each moment and start it again at once."""
    for moment in moments:
        await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
        world.process.kill()
        world.process.start()


async def watcher(world: World) -> None:
    """Restart the process if it ever ends by itself."""
    while True:
        await asyncio.sleep(0.5)
        world.process.watch()
