"""Outbound pacing: the real dispatcher sends an outbox through the emulators' enforced limits.

Telegram: 10,000 messages to 500 chats through the Telegram emulator enforcing Telegram's limits
(30 messages/s overall, 1 s between two messages to one chat), with Telegram's default limits in
the dispatcher's pacer. Targets: ≥ 27 messages/s sustained (90% of 30/s), no 429, ≥ 1 s between
two messages to one chat, everything sent. Then a 429 (retry_after 5 s) is injected on one chat
of a smaller set bound by the per-chat interval: the other chats must not be held back (their
worst gap stays ≤ 1 s + 1 s tolerance) and the flooded chat must wait its 5 s, then get all.

SMS: the same through the Twilio emulator refusing with 429 any send from one number sooner than
1/SMS_PER_SECOND after the last, the dispatcher paced at SMS_PER_SECOND as ``wolaiban run`` is.

Baseline, in the same run: the same messages through the same dispatcher with pacing off (limits
a million times higher): its 429s and throughput. In-process, on a temporary SQLite database.

    python -m bench.pacing            # 10,000 messages to 500 chats; 60 SMS at 1/s
    python -m bench.pacing --quick    # 1,000 messages to 100 chats; 15 SMS
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, func, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bench.drills_common import Row, all_passed, machine_note, table
from bot.channels import BOOK
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.pacing import Limits, Pacer
from bot.services.unit.context import ServiceContext
from bot.sms.sender import SmsSender
from bot.telegram.sender import TelegramSender
from core.cases import Channel
from db.engine import Database
from db.models import OutboxMessage
from sandbox.harness import migrated_sqlite
from sandbox.serve import serving
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator

TELEGRAM_RATE = 30.0  # Telegram's overall limit, messages per second
CHAT_INTERVAL = 1.0  # Telegram's seconds between two messages to one private chat
SUSTAINED_SHARE = 0.9  # the target: 90% of the limit, sustained
FLOOD_SECONDS = 5  # the injected 429's retry_after
HELD_BACK_TOLERANCE = 1.0  # how much longer than the interval another chat may wait
FIRST_CHAT = 100_001
SMS_FROM = "+8610690000099"
UNPACED = Limits(per_second=1e6, chat_interval=0.0, group_per_minute=10**6)
STEADY_TRIM = 0.05  # the first and last 5% of sends are ramp-up and tail, not steady state


# ---- measurements -------------------------------------------------------------------------------


@dataclass
class Run:
    """What one dispatcher run delivered and how."""

    messages: int
    sent_rows: int
    seconds: float
    times: list[float]  # when each message reached the provider (monotonic), sorted
    too_many_requests: int
    per_chat: dict[str, list[float]] = field(default_factory=dict)  # delivery times per chat
    in_order: bool = True

    @property
    def delivered_share(self) -> float:
        """Share of the outbox rows recorded as sent."""
        return self.sent_rows / self.messages if self.messages else 1.0

    @property
    def overall_rate(self) -> float:
        """Messages per second from the start to the last delivery."""
        return len(self.times) / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_rate(self) -> float:
        """Messages per second over the steady part (the first and last 5% left out)."""
        if len(self.times) < 3:
            return self.overall_rate
        low = int(len(self.times) * STEADY_TRIM)
        high = max(low + 1, len(self.times) - 1 - low)
        span = self.times[high] - self.times[low]
        return (high - low) / span if span > 0 else 0.0

    def min_gap(self, *, excluding: Sequence[str] = ()) -> float:
        """The shortest time between two messages to one chat (or from one SMS number)."""
        gaps = [
            b - a
            for chat, times in self.per_chat.items()
            if chat not in excluding
            for a, b in itertools.pairwise(times)
        ]
        return min(gaps, default=float("inf"))

    def max_gap(
        self, *, excluding: Sequence[str] = (), within: tuple[float, float] | None = None
    ) -> float:
        """The longest wait between two messages to one chat; with ``within``, only gaps that
        overlap that (monotonic) time window."""
        gaps = [
            b - a
            for chat, times in self.per_chat.items()
            if chat not in excluding
            for a, b in itertools.pairwise(times)
            if within is None or (b > within[0] and a < within[1])
        ]
        return max(gaps, default=0.0)


async def _queue(db: Database, rows: list[tuple[str, str, str]]) -> None:
    """Write outbox rows (channel, address, text), due now, in the given order."""
    now = datetime.now(UTC)
    async with db.transaction() as session:
        session.add_all(
            OutboxMessage(
                idempotency_key=f"bench:{i}",
                channel=channel,
                address=address,
                template="bench",
                text=text,
                next_attempt_at=now,
                created_at=now,
            )
            for i, (channel, address, text) in enumerate(rows)
        )


async def _sent_rows(db: Database) -> int:
    async with db.reading() as session:
        query = select(func.count()).where(col(OutboxMessage.status) == "sent")
        return int((await session.exec(query)).one())


async def _drive(
    db: Database,
    dispatcher: Dispatcher,
    *,
    messages: int,
    delivered: Callable[[], int],
    seconds: float,
) -> float:
    """Run the dispatcher until every row is sent (or ``seconds`` pass); the seconds it took."""
    started = time.monotonic()
    runner = asyncio.create_task(dispatcher.run())
    try:
        deadline = started + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            if delivered() >= messages and dispatcher.idle and await _sent_rows(db) >= messages:
                break
    finally:
        await dispatcher.stop()
        await runner
    return time.monotonic() - started


# ---- Telegram -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flood:
    """A 429 to inject: on ``chat``, ``after`` seconds into the run, asking to wait ``seconds``."""

    chat: int
    after: float
    seconds: int = FLOOD_SECONDS


@dataclass
class FloodSeen:
    """When the injected 429 was answered (monotonic), once it was."""

    at: float | None = None


async def telegram_run(
    folder: Path,
    *,
    messages: int,
    chats: int,
    limits: Limits,
    order: str = "random",
    seed: int = 1,
    flood: Flood | None = None,
    seen: FloodSeen | None = None,
    give_up_after: float | None = None,
) -> Run:
    """``messages`` outbox rows to ``chats`` chats, sent by the dispatcher with ``limits``."""
    ids = list(range(FIRST_CHAT, FIRST_CHAT + chats))
    targets = [ids[i % chats] for i in range(messages)]  # round robin: chat after chat
    if order == "random":
        random.Random(seed).shuffle(targets)
    elif order == "grouped":
        targets.sort()  # every message of one chat, then the next chat's
    numbered: dict[int, int] = {}
    rows = []
    for chat in targets:
        numbered[chat] = numbered.get(chat, 0) + 1
        rows.append(
            (Channel.TELEGRAM.value, str(chat), f"bench message {numbered[chat]} to {chat}")
        )
    db = await migrated_sqlite(folder / f"telegram-{time.monotonic_ns()}.db")
    emulator = TelegramEmulator()
    for chat in ids:
        emulator.add_user(chat, f"chat {chat}")
    await _queue(db, rows)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    try:
        async with serving(emulator.app) as url:
            # The pool ``wolaiban run``'s Application gives its bot (PTB's default there: 256).
            request = HTTPXRequest(connection_pool_size=256)
            bot = Bot(emulator.token, base_url=f"{url}/bot", request=request)
            async with bot:
                dispatcher = Dispatcher(
                    ctx, channel=Channel.TELEGRAM, sender=TelegramSender(bot), pacer=Pacer(limits)
                )
                injector = None
                if flood is not None:
                    injector = asyncio.create_task(_inject(emulator, flood, seen or FloodSeen()))
                started = time.monotonic()
                try:
                    seconds = await _drive(
                        db,
                        dispatcher,
                        messages=messages,
                        delivered=lambda: sum(len(emulator.inbox(c)) for c in ids),
                        seconds=give_up_after or max(120.0, messages / 10),
                    )
                finally:
                    if injector is not None:
                        injector.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await injector
        per_chat = {str(c): [m.at for m in emulator.inbox(c)] for c in ids}
        in_order = all(
            [m.text for m in emulator.inbox(c)]
            == [f"bench message {n} to {c}" for n in range(1, numbered.get(c, 0) + 1)]
            for c in ids
        )
        times = sorted(t for ts in per_chat.values() for t in ts)
        last = times[-1] if times else started
        return Run(
            messages=messages,
            sent_rows=await _sent_rows(db),
            seconds=max(last - started, 1e-9) if times else seconds,
            times=times,
            too_many_requests=emulator.too_many_requests,
            per_chat=per_chat,
            in_order=in_order,
        )
    finally:
        await db.dispose()


async def _inject(emulator: TelegramEmulator, flood: Flood, seen: FloodSeen) -> None:
    """Arm the 429 after ``flood.after`` seconds; note when the emulator answered it."""
    await asyncio.sleep(flood.after)
    emulator.forced_retry[flood.chat] = flood.seconds
    while flood.chat in emulator.forced_retry:  # noqa: ASYNC110 - the emulator has no event
        await asyncio.sleep(0.002)
    seen.at = time.monotonic()


# ---- SMS ----------------------------------------------------------------------------------------


async def sms_run(
    folder: Path, *, messages: int, rate: float, paced: bool, phones: int = 10
) -> Run:
    """``messages`` SMS to ``phones`` phones from one number; the Twilio emulator refuses any
    send sooner than ``1/rate`` after the previous one from that number."""
    db = await migrated_sqlite(folder / f"sms-{time.monotonic_ns()}.db")
    twilio = TwilioEmulator(sender_interval=1 / rate, callbacks_enabled=False)
    rows = [
        (Channel.SMS.value, f"+86139{i % phones:08d}", f"bench sms {i} of {messages}")
        for i in range(messages)
    ]
    await _queue(db, rows)
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    # As ``wolaiban run`` paces SMS: per sending number, ``rate`` a second.
    limits = Limits(per_second=rate, chat_interval=1 / rate) if paced else UNPACED
    try:
        async with serving(twilio.app) as url:
            sender = SmsSender(
                account_sid=twilio.account_sid,
                auth_token=twilio.auth_token,
                api_url=url,
                sender=SMS_FROM,
                status_callback="http://127.0.0.1:9/twilio/status",  # callbacks are off
            )
            dispatcher = Dispatcher(ctx, channel=Channel.SMS, sender=sender, pacer=Pacer(limits))
            started = time.monotonic()
            try:
                seconds = await _drive(
                    db,
                    dispatcher,
                    messages=messages,
                    delivered=lambda: len(twilio.sent),
                    seconds=max(60.0, 3 * messages / rate),
                )
            finally:
                await sender.close()
        times = sorted(m.at for m in twilio.sent)
        return Run(
            messages=messages,
            sent_rows=await _sent_rows(db),
            seconds=(times[-1] - started) if times else seconds,
            times=times,
            too_many_requests=twilio.too_many_requests,
            per_chat={SMS_FROM: times},
        )
    finally:
        await db.dispose()


# ---- the tables ---------------------------------------------------------------------------------


def _paced_rows(
    paced: Run,
    unpaced: Run,
    *,
    unit: str,
    scope: str,
    target_rate: float,
    target_text: str,
    interval: float,
    interval_text: str,
    rate_digits: int = 1,
) -> list[Row]:
    """What every paced channel shows: its sustained rate, 429s, spacing and delivery."""
    return [
        Row(
            f"sustained rate ({unit}/s, steady part)",
            paced.steady_rate,
            unpaced.steady_rate,
            target_text,
            paced.steady_rate >= target_rate,
            digits=rate_digits,
        ),
        Row(
            "429 answers",
            paced.too_many_requests,
            unpaced.too_many_requests,
            "0",
            paced.too_many_requests == 0,
        ),
        Row(
            f"min gap, one {scope} (s)",
            paced.min_gap(),
            unpaced.min_gap(),
            interval_text,
            paced.min_gap() >= interval,
            digits=3,
        ),
        Row(
            "delivered (rows sent, %)",
            100 * paced.delivered_share,
            100 * unpaced.delivered_share,
            "100",
            paced.delivered_share == 1.0,
        ),
    ]


def _time_row(paced: Run, unpaced: Run) -> Row:
    return Row("time to send all (s)", paced.seconds, unpaced.seconds, "-", None)


def telegram_rows(paced: Run, unpaced: Run) -> list[Row]:
    """Throughput, 429s, spacing and delivery: paced against unpaced."""
    target_rate = SUSTAINED_SHARE * TELEGRAM_RATE
    rows = _paced_rows(
        paced,
        unpaced,
        unit="msg",
        scope="chat",
        target_rate=target_rate,
        target_text=f">= {target_rate:.0f}",
        interval=CHAT_INTERVAL,
        interval_text=f">= {CHAT_INTERVAL:.1f}",
    )
    overall = Row(
        "overall rate (msg/s, first to last)", paced.overall_rate, unpaced.overall_rate, "-", None
    )
    in_order = Row(
        "in order per chat",
        "yes" if paced.in_order else "NO",
        "yes" if unpaced.in_order else "NO",
        "yes",
        paced.in_order,
    )
    return [rows[0], overall, *rows[1:], in_order, _time_row(paced, unpaced)]


def flood_rows(flooded: Run, calm: Run, chat: int, seen: FloodSeen) -> list[Row]:
    """The injected 429: others not held back, the flooded chat waits, everything sent."""
    mine = str(chat)
    limit = CHAT_INTERVAL + HELD_BACK_TOLERANCE
    window = (seen.at, seen.at + FLOOD_SECONDS) if seen.at is not None else None
    during = flooded.max_gap(excluding=[mine], within=window) if window else float("nan")
    waited = max(
        (b - a for a, b in itertools.pairwise(flooded.per_chat[mine]) if window and b > window[0]),
        default=0.0,
    )
    first_after = next((t for t in flooded.per_chat[mine] if window and t > window[0]), None)
    honoured = (
        first_after is not None
        and window is not None
        and first_after - window[0] >= (FLOOD_SECONDS - 0.05)
    )
    return [
        Row("429 injected and answered", "yes" if window else "NO", "-", "yes", window is not None),
        Row(
            "others' worst gap during the pause (s)",
            during,
            calm.max_gap(excluding=[mine]),
            f"<= {limit:.1f}",
            window is not None and during <= limit,
            digits=3,
        ),
        Row(
            "others' worst gap, whole run (s)",
            flooded.max_gap(excluding=[mine]),
            calm.max_gap(excluding=[mine]),
            f"<= {limit:.1f}",
            flooded.max_gap(excluding=[mine]) <= limit,
            digits=3,
        ),
        Row(
            "flooded chat: 429 to next send (s)",
            (first_after - window[0]) if first_after is not None and window else float("nan"),
            None,
            f">= {FLOOD_SECONDS}",
            honoured,
            digits=3,
        ),
        Row("flooded chat: longest gap (s)", waited, calm.max_gap(), "-", None, digits=3),
        Row(
            "unforced 429 answers",
            flooded.too_many_requests - (1 if window else 0),
            calm.too_many_requests,
            "0",
            flooded.too_many_requests - (1 if window else 0) == 0,
        ),
        Row(
            "delivered (rows sent, %)",
            100 * flooded.delivered_share,
            100 * calm.delivered_share,
            "100",
            flooded.delivered_share == 1.0,
        ),
        Row(
            "in order per chat",
            "yes" if flooded.in_order else "NO",
            "yes" if calm.in_order else "NO",
            "yes",
            flooded.in_order,
        ),
    ]


def sms_rows(paced: Run, unpaced: Run, rate: float) -> list[Row]:
    """SMS: the per-number rate kept, no 429, everything sent."""
    interval = 1 / rate
    rows = _paced_rows(
        paced,
        unpaced,
        unit="SMS",
        scope="number",
        target_rate=SUSTAINED_SHARE * rate,
        target_text=f">= {SUSTAINED_SHARE * rate:.2f}",
        interval=interval,
        interval_text=f">= {interval:.3f}",
        rate_digits=3,
    )
    return [*rows, _time_row(paced, unpaced)]


# ---- the script ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """What to run."""

    messages: int = 10_000
    chats: int = 500
    order: str = "random"
    flood_chats: int = 20
    flood_messages: int = 12
    sms_messages: int = 60
    sms_rate: float = 1.0
    skip_baseline: bool = False
    seed: int = 1


async def bench(options: Options) -> tuple[list[tuple[str, list[Row]]], bool]:
    """Run every part; the titled tables and whether every target was met."""
    tables: list[tuple[str, list[Row]]] = []
    with tempfile.TemporaryDirectory(prefix="wolaiban-pacing-") as folder:
        where = Path(folder)
        paced = await telegram_run(
            where,
            messages=options.messages,
            chats=options.chats,
            limits=Limits(),
            order=options.order,
            seed=options.seed,
        )
        unpaced = (
            paced
            if options.skip_baseline
            else await telegram_run(
                where,
                messages=options.messages,
                chats=options.chats,
                limits=UNPACED,
                order=options.order,
                seed=options.seed,
            )
        )
        title = (
            f"Telegram: {options.messages} messages to {options.chats} chats ({options.order} "
            f"order), emulator at 30/s and 1 s per chat; baseline: the dispatcher unpaced"
        )
        tables.append((title, telegram_rows(paced, unpaced)))

        chat = FIRST_CHAT  # the first of the small set: flooded 3 s in, while all are sending
        seen = FloodSeen()
        count, chats = options.flood_chats * options.flood_messages, options.flood_chats
        flooded = await telegram_run(
            where,
            messages=count,
            chats=chats,
            limits=Limits(),
            order="round",
            flood=Flood(chat, 3.0),
            seen=seen,
        )
        calm = await telegram_run(
            where, messages=count, chats=chats, limits=Limits(), order="round"
        )
        title = (
            f"Telegram: a 429 (retry_after {FLOOD_SECONDS} s) on chat {chat} of "
            f"{options.flood_chats} chats x {options.flood_messages} messages (per-chat bound); "
            "baseline: the same without the 429"
        )
        tables.append((title, flood_rows(flooded, calm, chat, seen)))

        sms_paced = await sms_run(
            where, messages=options.sms_messages, rate=options.sms_rate, paced=True
        )
        sms_unpaced = (
            sms_paced
            if options.skip_baseline
            else await sms_run(
                where, messages=options.sms_messages, rate=options.sms_rate, paced=False
            )
        )
        title = (
            f"SMS: {options.sms_messages} messages from one number, emulator refusing sends "
            f"closer than 1/{options.sms_rate:g} s; baseline: the dispatcher unpaced"
        )
        tables.append((title, sms_rows(sms_paced, sms_unpaced, options.sms_rate)))
    return tables, all(all_passed(rows) for _, rows in tables)


def parse(argv: Sequence[str] | None) -> Options:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.pacing", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--messages", type=int, default=None, help="Telegram messages (10000)")
    parser.add_argument("--chats", type=int, default=None, help="Telegram chats (500)")
    parser.add_argument(
        "--order",
        choices=("random", "round", "grouped"),
        default="random",
        help="outbox order: shuffled (default), chat after chat, or each chat's all at once",
    )
    parser.add_argument("--sms", type=int, default=None, help="SMS messages (60)")
    parser.add_argument("--sms-rate", type=float, default=1.0, help="SMS_PER_SECOND (1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unpaced runs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quick", action="store_true", help="1,000 messages to 100 chats and 15 SMS"
    )
    args = parser.parse_args(argv)
    quick = Options(messages=1_000, chats=100, sms_messages=15)
    base = quick if args.quick else Options()
    return Options(
        messages=args.messages or base.messages,
        chats=args.chats or base.chats,
        order=args.order,
        sms_messages=args.sms or base.sms_messages,
        sms_rate=args.sms_rate,
        skip_baseline=args.no_baseline,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print its tables; 1 when a target was missed."""
    options = parse(argv)
    started = time.monotonic()
    tables, passed = asyncio.run(bench(options))
    for title, rows in tables:
        print(table(title, rows))
        print()
    print(machine_note())
    print(
        f"pacing: {'all targets met' if passed else 'TARGET MISSED'} "
        f"({time.monotonic() - started:.0f} s)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
