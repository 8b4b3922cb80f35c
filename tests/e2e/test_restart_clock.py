"""Steps that fall due while the process is down run once when it is back: in the events and in
what the manager's chat received."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import col, select

from db.engine import open_database
from db.models import CaseEvent
from sandbox.child import Process, wait_ready
from sandbox.harness import directory_file, serve_emulators, sqlite_url
from sandbox.telegram import Limits, TelegramEmulator
from tests.e2e.process import run_env
from tests.e2e.test_process import MANAGER, RESIDENT, buttons, report, until


def _directory(folder: Path) -> Path:
    """The example with a 5-second acknowledge deadline and no quiet hours."""
    return directory_file(folder, ack_within="5s", remind_every="1h", quiet_hours=None)


async def test_a_reminder_due_while_down_is_sent_once_after_restart(tmp_path: Path) -> None:
    emulator = TelegramEmulator(limits=Limits(private_interval=0.1))
    emulator.add_user(RESIDENT, "李大爷")
    emulator.add_user(MANAGER, "王经理")
    database = tmp_path / "wolaiban.db"
    async with serve_emulators(emulator) as emulators:
        env = run_env(
            database, emulators, directory_file=str(_directory(tmp_path)), sweep_seconds=0.5
        )
        process = Process(env, tmp_path / "run.log")
        process.start()
        try:
            await wait_ready(process)  # started (a loaded machine may take a while), then report
            await report(emulator, RESIDENT, "快递堆在路上")
            await until(lambda: "ack:1" in buttons(emulator, MANAGER))
            process.stop()  # down before the acknowledge deadline (5 s after the report)
            await asyncio.sleep(6)  # the deadline passes while nobody runs
            process.start()
            await until(lambda: any("⏰" in m.text for m in emulator.inbox(MANAGER)))
            await asyncio.sleep(2)  # several sweeps later: still one reminder
        finally:
            process.stop()
    reminders = [m for m in emulator.inbox(MANAGER) if "⏰" in m.text]
    assert len(reminders) == 1
    db = open_database(sqlite_url(database))
    try:
        async with db.reading() as session:
            kinds = (await session.exec(select(CaseEvent.kind).order_by(col(CaseEvent.id)))).all()
    finally:
        await db.dispose()
    assert list(kinds) == ["reported", "routed", "reminded"]


async def test_after_a_kill_the_restarted_process_sweeps_at_once(tmp_path: Path) -> None:
    # On SQLite one process sweeps, holding a lease it renews; a killed process cannot give it
    # back. The restarted process sees that the holder is dead and takes the lease, so a step
    # that fell due meanwhile goes out at once, not when the dead process's lease runs out.
    emulator = TelegramEmulator(limits=Limits(private_interval=0.1))
    emulator.add_user(RESIDENT, "李大爷")
    emulator.add_user(MANAGER, "王经理")
    async with serve_emulators(emulator) as emulators:
        # SWEEP_SECONDS 3: the lease is 3 × 3 + 10 = 19 s from the last sweep
        env = run_env(
            tmp_path / "wolaiban.db",
            emulators,
            directory_file=str(_directory(tmp_path)),
            sweep_seconds=3,
        )
        process = Process(env, tmp_path / "run.log")
        process.start()
        try:
            await wait_ready(process)  # started (a loaded machine may take a while), then report
            await report(emulator, RESIDENT, "快递堆在路上")
            await until(lambda: "ack:1" in buttons(emulator, MANAGER))
            process.kill()
            await asyncio.sleep(6)  # the acknowledge deadline passes while nobody runs
            process.start()
            # well before the dead holder's lease (≥ 13 s from now) would have run out
            await until(lambda: any("⏰" in m.text for m in emulator.inbox(MANAGER)), seconds=8)
        finally:
            process.stop()
