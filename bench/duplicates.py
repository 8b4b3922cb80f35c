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
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from sqlmodel import col, func, select

from bench.common import NO_FOLLOW
from bench.drills_common import ErrorLog, Received, WebhookTelegram, all_passed, machine_note, table
from bench.duplicates_outcome import Outcome, describe, rows
from bench.duplicates_world import (
    FIRST_RESIDENT,
    World,
    communities_of,
    guarded,
    sms_resident,
    telegram_resident,
)
from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from db.engine import Database
from db.migrate import upgrade
from db.models import WAITING, Case, CaseEvent, InboundReceipt, OutboxMessage
from sandbox.harness import (
    add_people,
    example_directory,
    migrated_sqlite,
    postgres_schema,
    running_stack,
    serve_emulators,
)
from sandbox.telegram import Limits as TelegramLimits
from sandbox.twilio import TwilioEmulator

CHAT_INTERVAL = 0.05
MANAGER_TEXTS_PER_HOUR = 30  # the bot's per-sender limit: past it a sender is told to slow down


# ---- one run ------------------------------------------------------------------------------------


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
    async with postgres_schema(postgres, f"bench_{name}") as db:
        await upgrade(db)
        yield db


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
        return await _run(db, telegram_residents, sms_residents, copies)


async def _run(db: Database, telegram_residents: int, sms_residents: int, copies: int) -> Outcome:
    started = time.monotonic()
    ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
    # quiet hours off: the drill's SMS and Telegram messages go out at any time of day; the
    # follow offer off: whether a report is offered another's open case would hang on which
    # resident's case was in first, and the baseline must be the same script as the drill
    directory = example_directory(quiet_hours=None, **NO_FOLLOW)
    await load_directory(ctx, directory)
    communities = communities_of(directory)
    by_sms = sum(
        1
        for i in range(telegram_residents + sms_residents)
        if communities[(i if i < telegram_residents else i - telegram_residents + 3) % 6][2] is None
    )
    if 2 * by_sms > MANAGER_TEXTS_PER_HOUR:
        raise ValueError("too many residents: the SMS manager would pass the per-hour limit")
    telegram = WebhookTelegram(limits=TelegramLimits(private_interval=0.8 * CHAT_INTERVAL))
    add_people(telegram, directory)
    for i in range(telegram_residents):
        telegram.add_user(FIRST_RESIDENT + i, f"居民{i}", "zh")
    twilio = TwilioEmulator()
    values: dict[str, object] = {"telegram_chat_interval": CHAT_INTERVAL, "sms_per_second": 50}
    errors = ErrorLog()
    with errors:
        async with (
            serve_emulators(telegram, twilio) as emulators,
            running_stack(ctx, emulators, webhook=True, **values) as stack,
        ):
            public = stack.settings.public_url
            world = World(stack, telegram, twilio, ctx, public, copies, communities)
            await asyncio.gather(
                *(
                    guarded(world, f"telegram {i}", telegram_resident(world, i))
                    for i in range(telegram_residents)
                ),
                *(guarded(world, f"sms {i}", sms_resident(world, i)) for i in range(sms_residents)),
            )
            await _drain(db)
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
        outbox_sent=sum(1 for r in outbox if r.status in ("sent", "superseded")),
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


# ---- the drill and its baseline ----------------------------------------------------------------


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
