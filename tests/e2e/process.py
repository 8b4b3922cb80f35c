"""``wolaiban run`` as a child process the tests start, kill and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sandbox.serve import free_port
from sandbox.telegram import TelegramEmulator


def run_env(
    database: Path, emulator: TelegramEmulator, telegram_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a ``wolaiban run`` on a SQLite file, polling the emulator at
    ``telegram_url`` with quick pacing; ``settings`` adds or overrides variables."""
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "TELEGRAM_API_URL": telegram_url,
        "TELEGRAM_CHAT_INTERVAL": "0.1",
        "HTTP_PORT": str(free_port()),
        **settings,
    }


class Process:
    """One ``wolaiban run``; started and killed at will, its log collected."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.child = env, log, None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], env=self.env, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.child is not None
        self.child.send_signal(signal.SIGKILL)
        self.child.wait()

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
