"""The guided report's confirm press in process, no HTTP: the webhook's ``handle`` × N at a
concurrency, on SQLite, through PTB's ``process_update``, the handlers and the writer.

The Bot API is faked at PTB's request seam (``answerCallbackQuery`` answered at once, no
network), so what is measured is this process's own work per press: the webhook, PTB, the
handler, the unit. Prints presses/s and CPU per press (the whole process, and the writer's
thread); ``--general`` sends every press the general path's way (``waiting.answer``) for
comparison; ``--profile FILE`` runs the event loop's thread under cProfile.

    python bench/intake_profile_telegram.py [--presses 1000] [--concurrency 50] [--general]
                                            [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/intake_profile_telegram.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import func, select
from starlette.requests import Request
from telegram.ext import Application

from bench.common import NO_FOLLOW
from bench.intake_payloads import Payloads
from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.intake import press as intake_telegram
from bot.services.unit.context import ServiceContext
from bot.telegram.handlers import TelegramGateway
from bot.telegram.webhook import HEADER, TelegramWebhook
from db.engine import open_database
from db.migrate import upgrade
from db.models import Case
from sandbox.harness import WEBHOOK_SECRET, example_directory, sqlite_url

# The Bot API faked as the tests fake it, at PTB's request seam.
from tests.telegram.test_answers import TOKEN, FakeBotApi


def _request(raw: bytes) -> Request:
    """A webhook POST as Starlette hands it over."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/telegram/webhook",
        "query_string": b"",
        "headers": [(HEADER.lower().encode(), WEBHOOK_SECRET.encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


async def _gather(work: list[Any], concurrency: int, one: Callable[[Any], Awaitable[None]]) -> None:
    queue = list(reversed(work))

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _main(presses: int, concurrency: int, general: bool, profile: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(sqlite_url(Path(folder) / "wolaiban.db"))
        await upgrade(db)
        ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
        # Every report a case of its own, on the hot path (bench/common.py NO_FOLLOW says why).
        await load_directory(ctx, example_directory(**NO_FOLLOW))
        if general:

            async def not_hot(*args: object) -> None:
                raise intake_telegram.NotHot()

            intake_telegram.confirm = not_hot  # type: ignore[assignment]
        gateway = TelegramGateway(ctx, kick=lambda: None, default_language="zh")
        api = FakeBotApi((200, {"ok": True, "result": True}))  # every call answered at once
        app = Application.builder().token(TOKEN).request(api).updater(None).build()
        gateway.register(app)
        hook = TelegramWebhook(app, gateway, WEBHOOK_SECRET)
        payloads = Payloads("http://127.0.0.1", "x" * 32, None)
        reports = [[p.body for p in payloads.guided_report()] for _ in range(presses + 20)]

        async def post(body: bytes) -> None:
            response = await hook.handle(_request(body))
            if response.status_code != 200:
                raise AssertionError(response.status_code)

        async def play(steps: list[bytes]) -> None:
            for body in steps:
                await post(body)

        async with app:
            await app.start()
            await _gather(reports[:20], 10, play)  # warm up: imports, caches, the writer
            await _gather([r[:-1] for r in reports[20:]], concurrency, play)  # untimed
            writer = db.writer
            assert writer is not None
            thread_cpu: list[float] = []
            executor = writer._executor()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, lambda: thread_cpu.append(time.thread_time()))
            profiler = cProfile.Profile() if profile else None
            batches, cpu, wall = writer.batches, time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            await _gather([r[-1] for r in reports[20:]], concurrency, post)
            if profiler is not None:
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await loop.run_in_executor(
                executor, lambda: thread_cpu.append(time.thread_time() - thread_cpu[0])
            )
            await app.stop()
        async with db.reading() as session:
            cases = (await session.exec(select(func.count()).select_from(Case))).one()
        print(
            f"{presses} confirm presses at c={concurrency} ({'general' if general else 'hot'}"
            f" path): {presses / wall:.0f} presses/s, {cpu / presses * 1000:.2f} ms CPU per"
            f" press (process), {thread_cpu[-1] / presses * 1000:.2f} ms in the writer's"
            f" thread, {writer.batches - batches} batches; {cases} cases in all"
        )
        await db.dispose()
        if profiler is not None and profile:
            profiler.dump_stats(profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--general", action="store_true")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    asyncio.run(_main(args.presses, args.concurrency, args.general, args.profile))


if __name__ == "__main__":
    main()
