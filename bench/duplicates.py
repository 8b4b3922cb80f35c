"""Duplicate drill: every Telegram update, every SMS and every button press delivered three times.

The real stack (``wolaiban run``'s, in-process, webhook mode) on a temporary SQLite database (or
a PostgreSQL schema of its own),
against the Telegram and Twilio emulators. Telegram residents walk the guided ``/report``; SMS
residents text a community's number; each case's manager acknowledges and resolves it (buttons on
Telegram, ``A<n>``/``D<n>`` by SMS) and the resident rates it (a button, or ``1`` by SMS). Every
Telegram update is delivered, then twice more at once (the same update again, as Telegram retries a
webhook); every SMS is posted three times at once with the same MessageSid (as Twilio retries).

Targets: the same cases, events, outbox rows and delivered messages as the baseline — the same
script delivering everything once — and nothing delivered twice to one chat or phone. An SMS
posted again gets the same TwiML answer again; Twilio only passes on the answer to the post it
got an answer for, so TwiML answers count once per MessageSid (and must be the same each time).

    python -m bench.duplicates            # 25 Telegram and 25 SMS residents
    python -m bench.duplicates --quick    # 8 and 8
    python -m bench.duplicates --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, func, select

from bench.drills_common import (
    ErrorLog,
    Received,
    Retries,
    Row,
    WebhookTelegram,
    add_directory_people,
    all_passed,
    drill_directory,
    first_message,
    machine_note,
    migrated_sqlite,
    question,
    table,
    text_until_taken,
    until_taken,
)
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.directory_file import read_directory
from bot.runtime import Stack
from bot.services.context import ServiceContext
from bot.services.directory import load_directory
from bot.services.outbox import WAITING
from core.directory import Directory
from db.engine import Database, open_database
from db.migrate import upgrade
from db.models import Case, CaseEvent, InboundReceipt, OutboxMessage
from sandbox.serve import free_port, serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import Sent
from sandbox.twilio import Reply, TwilioEmulator, new_sid

WEBHOOK_SECRET = "duplicate-drill-webhook-secret"
FROM_NUMBER = "+8610690000099"
CHAT_INTERVAL = 0.05
FIRST_RESIDENT = 800_001
WAIT = 30.0
CATEGORIES = 10
MANAGER_TEXTS_PER_HOUR = 30  # the bot's per-sender limit: past it a sender is told to slow down


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


async def _guarded(world: World, name: str, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception as error:  # counted and shown; the other residents go on
        world.failures.append(f"{name}: {type(error).__name__}: {error}")


# ---- the outcome --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run left behind."""

    copies: int
    residents: int
    cases: int
    cases_per_marker: Counter[str]
    events: int
    event_kinds: Counter[str]
    outbox_rows: int
    outbox_sent: int
    receipts: int
    telegram_messages: int
    telegram_edits: int
    api_sms: int
    twiml_answers: int
    same_text_twice: int
    duplicate_examples: list[str]
    answers_differ: int
    repeats: int
    retries: Retries
    errors_logged: int
    error_examples: list[str]
    failures: list[str]
    seconds: float

    @property
    def delivered(self) -> int:
        """Messages delivered: Telegram messages, API-sent SMS, TwiML answers (once per sid)."""
        return self.telegram_messages + self.api_sms + self.twiml_answers


async def _count(db: Database, model: type[Case] | type[CaseEvent] | type[InboundReceipt]) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def _drain(db: Database) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with db.reading() as session:
            query = select(func.count()).where(col(OutboxMessage.status).in_(WAITING))
            if int((await session.exec(query)).one()) == 0:
                return
        await asyncio.sleep(0.2)


def _communities(directory: Directory) -> list[tuple[str, str, int | None, str | None]]:
    """Each community: id, SMS number, its manager's Telegram id (or None) and phone."""
    managers = {r.community: r.manager for r in directory.routing}
    people = {p.id: p for p in directory.people}
    found = []
    for community in sorted(directory.communities, key=lambda c: c.id):
        manager = people[managers[community.id]]
        assert community.sms_number is not None
        found.append((community.id, community.sms_number, manager.telegram_id, manager.phone))
    return found


@asynccontextmanager
async def database(folder: Path, name: str, postgres: str | None) -> AsyncIterator[Database]:
    """A migrated database: SQLite in ``folder``, or a schema of its own on ``postgres`` (dropped
    afterwards)."""
    if postgres is None:
        db = await migrated_sqlite(folder / f"{name}.db")
        try:
            yield db
        finally:
            await db.dispose()
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(postgres)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = open_database(postgres, connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade(db)
        yield db
    finally:
        await db.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def run(
    *,
    telegram_residents: int,
    sms_residents: int,
    copies: int,
    folder: Path,
    postgres: str | None = None,
) -> Outcome:
    """One run of the drill, each delivery made ``copies`` times."""
    async with database(folder, f"x{copies}", postgres) as db:
        return await _run(db, telegram_residents, sms_residents, copies, folder)


async def _run(
    db: Database, telegram_residents: int, sms_residents: int, copies: int, folder: Path
) -> Outcome:
    started = time.monotonic()
    ctx = ServiceContext(db=db, default_language="zh")
    directory = read_directory(drill_directory(folder))
    await load_directory(ctx, directory)
    communities = _communities(directory)
    by_sms = sum(
        1
        for i in range(telegram_residents + sms_residents)
        if communities[(i if i < telegram_residents else i - telegram_residents + 3) % 6][2] is None
    )
    if 2 * by_sms > MANAGER_TEXTS_PER_HOUR:
        raise ValueError("too many residents: the SMS manager would pass the per-hour limit")
    telegram = WebhookTelegram(limits=TelegramLimits(private_interval=0.8 * CHAT_INTERVAL))
    add_directory_people(telegram, directory)
    for i in range(telegram_residents):
        telegram.add_user(FIRST_RESIDENT + i, f"居民{i}", "zh")
    twilio = TwilioEmulator()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with serving(telegram.app) as telegram_url, serving(twilio.app) as twilio_url:
        values: dict[str, object] = {
            "database_url": db.url,
            "telegram_bot_token": telegram.token,
            "telegram_api_url": telegram_url,
            "telegram_webhook_url": f"{public}/telegram/webhook",
            "telegram_webhook_secret": WEBHOOK_SECRET,
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_from_number": FROM_NUMBER,
            "twilio_api_url": twilio_url,
            "public_url": public,
            "http_port": port,
            "sms_per_second": 50,
        }
        settings = Settings.model_validate(values)  # these values only: no environment
        stack = Stack(
            settings,
            ctx,
            telegram_limits=Limits(chat_interval=CHAT_INTERVAL),
            scheduled_digests=False,
        )
        await stack.start()
        world = World(stack, telegram, twilio, ctx, public, copies, communities)
        errors = ErrorLog()
        with errors:
            try:
                await asyncio.gather(
                    *(
                        _guarded(world, f"telegram {i}", telegram_resident(world, i))
                        for i in range(telegram_residents)
                    ),
                    *(
                        _guarded(world, f"sms {i}", sms_resident(world, i))
                        for i in range(sms_residents)
                    ),
                )
                await _drain(db)
            finally:
                await stack.stop()
                await twilio.settle()
    async with db.reading() as session:
        cases = list((await session.exec(select(Case))).all())
        kinds = Counter((await session.exec(select(CaseEvent.kind))).all())
        outbox = list((await session.exec(select(OutboxMessage))).all())
    receipts = await _count(db, InboundReceipt)
    markers: Counter[str] = Counter()
    for case in cases:
        markers.update(w for w in case.description.split() if w.startswith("dup-"))
    # What each chat and phone got: Telegram messages, API-sent SMS, and one TwiML answer per sid.
    chats = {c: [m.text for m in telegram.inbox(c)] for c in list(telegram.chats)}
    phones: dict[str, list[str]] = {}
    for sms in twilio.sent:
        if sms.direction == "outbound-api":
            phones.setdefault(sms.to, []).append(sms.body)
    for phone, answer in world.twiml.values():
        phones.setdefault(phone, []).extend(answer)
    got = Received(telegram={c: t for c, t in chats.items() if t}, sms=phones)
    return Outcome(
        copies=copies,
        residents=telegram_residents + sms_residents,
        cases=len(cases),
        cases_per_marker=markers,
        events=sum(kinds.values()),
        event_kinds=kinds,
        outbox_rows=len(outbox),
        outbox_sent=sum(1 for r in outbox if r.status == "sent"),
        receipts=receipts,
        telegram_messages=sum(len(t) for t in chats.values()),
        telegram_edits=sum(m.edits for c in list(telegram.chats) for m in telegram.inbox(c)),
        api_sms=sum(1 for s in twilio.sent if s.direction == "outbound-api"),
        twiml_answers=sum(len(a) for _, a in world.twiml.values()),
        same_text_twice=got.duplicate_count(),
        duplicate_examples=[f"{w}: {t[:50]!r} +{n}" for w, t, n in got.duplicates()][:5],
        answers_differ=world.answers_differ,
        repeats=world.repeats,
        retries=world.retries,
        errors_logged=errors.count,
        error_examples=[f"{text} x{n}" for text, n in errors.summaries.most_common(3)],
        failures=world.failures,
        seconds=time.monotonic() - started,
    )


# ---- the table ----------------------------------------------------------------------------------


def rows(tripled: Outcome, once: Outcome) -> list[Row]:
    """Each figure of the ×3 run against the ×1 run: equal, and no duplicate."""

    def same(figure: str, a: int, b: int) -> Row:
        return Row(figure, a, b, "= baseline", a == b)

    doubled = sum(1 for n in tripled.cases_per_marker.values() if n > 1)
    return [
        Row("residents (Telegram + SMS)", tripled.residents, once.residents, "-", None),
        Row("deliveries repeated", tripled.repeats, once.repeats, "-", None),
        same("cases", tripled.cases, once.cases),
        Row("reports with several cases", doubled, 0, "0", doubled == 0),
        same("events", tripled.events, once.events),
        same("outbox rows", tripled.outbox_rows, once.outbox_rows),
        same("outbox rows sent", tripled.outbox_sent, once.outbox_sent),
        same("inbound receipts", tripled.receipts, once.receipts),
        same("Telegram messages delivered", tripled.telegram_messages, once.telegram_messages),
        same("Telegram edits", tripled.telegram_edits, once.telegram_edits),
        same("SMS sent by the API", tripled.api_sms, once.api_sms),
        same("SMS answered by TwiML (per sid)", tripled.twiml_answers, once.twiml_answers),
        same("messages delivered, all", tripled.delivered, once.delivered),
        Row(
            "same text twice to one chat/phone",
            tripled.same_text_twice,
            once.same_text_twice,
            "0",
            tripled.same_text_twice == 0,
        ),
        Row(
            "repeated SMS answered differently",
            tripled.answers_differ,
            once.answers_differ,
            "0",
            tripled.answers_differ == 0,
        ),
        Row(
            "webhook not answered 200, posted again (Telegram / SMS)",
            f"{tripled.retries.telegram} / {tripled.retries.sms}",
            f"{once.retries.telegram} / {once.retries.sms}",
            "-",
            None,
        ),
        Row("errors logged by the bot", tripled.errors_logged, once.errors_logged, "-", None),
        Row(
            "residents whose script failed",
            len(tripled.failures),
            len(once.failures),
            "0",
            not tripled.failures and not once.failures,
        ),
        Row("run time (s)", tripled.seconds, once.seconds, "-", None),
    ]


def describe(outcome: Outcome) -> str:
    """The details behind a run's figures."""
    lines = [
        f"x{outcome.copies}: {outcome.cases} cases, events {dict(outcome.event_kinds)}, "
        f"{outcome.seconds:.0f} s"
    ]
    if outcome.duplicate_examples:
        lines.append("  delivered twice: " + "; ".join(outcome.duplicate_examples))
    if outcome.failures:
        lines.append("  failures: " + "; ".join(outcome.failures[:5]))
    if outcome.error_examples:
        lines.append("  errors logged: " + "; ".join(outcome.error_examples))
    return "\n".join(lines)


async def bench(
    *, telegram_residents: int, sms_residents: int, copies: int = 3, postgres: str | None = None
) -> tuple[Outcome, Outcome]:
    """The drill (each delivery ``copies`` times) and its baseline (once)."""
    with tempfile.TemporaryDirectory(prefix="wolaiban-duplicates-") as scratch:
        folder = Path(scratch)
        once = await run(
            telegram_residents=telegram_residents,
            sms_residents=sms_residents,
            copies=1,
            folder=folder,
            postgres=postgres,
        )
        tripled = await run(
            telegram_residents=telegram_residents,
            sms_residents=sms_residents,
            copies=copies,
            folder=folder,
            postgres=postgres,
        )
    return tripled, once


def main(argv: Sequence[str] | None = None) -> int:
    """Run the drill and its baseline, print the table; 1 when a target was missed."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.duplicates", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--telegram", type=int, default=None, help="Telegram residents (25)")
    parser.add_argument("--sms", type=int, default=None, help="SMS residents (25)")
    parser.add_argument("--copies", type=int, default=3, help="deliveries of each (3)")
    parser.add_argument("--quick", action="store_true", help="8 Telegram and 8 SMS residents")
    parser.add_argument(
        "--postgres", metavar="URL", help="run on PostgreSQL (postgresql+asyncpg://…), not SQLite"
    )
    args = parser.parse_args(argv)
    size = 8 if args.quick else 25
    tripled, once = asyncio.run(
        bench(
            telegram_residents=args.telegram if args.telegram is not None else size,
            sms_residents=args.sms if args.sms is not None else size,
            copies=args.copies,
            postgres=args.postgres,
        )
    )
    print(describe(once), file=sys.stderr)
    print(describe(tripled), file=sys.stderr)
    result = rows(tripled, once)
    title = (
        f"Duplicate drill: every update, SMS and button press delivered {tripled.copies} times, "
        f"on {'PostgreSQL' if args.postgres else 'SQLite'}; baseline: each delivered once"
    )
    print(table(title, result))
    print()
    print(machine_note())
    passed = all_passed(result)
    print(f"duplicate drill: {'all targets met' if passed else 'TARGET MISSED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
