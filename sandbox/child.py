"""``wolaiban run`` (or another server) as a child process that the end-to-end tests and the
benchmarks start, kill and start again: its environment, built from a run's settings, and its
life."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.config import Settings
from sandbox.harness import ROOT

RUN = (sys.executable, "-m", "bot.cli", "run")


def clean_env(**values: str) -> dict[str, str]:
    """This environment without any Wolaiban setting it may carry, plus ``values``: a child
    reads only the settings it is given, and this tree's code whatever its working folder."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"  # its log is read while it runs
    env.update(values)
    return env


def run_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process ``settings`` (those that were set)."""
    values: dict[str, str] = {}
    for name in sorted(settings.model_fields_set):
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            values[name.upper()] = str(value)
    return clean_env(**values)


class Process:
    """One server process at a time on ``env`` (``wolaiban run`` unless ``argv`` says otherwise),
    listening on its HTTP_PORT: started, killed and started again at will; its output appended
    to ``log``."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        cwd: Path | None = None,
        argv: Sequence[str] = RUN,
    ) -> None:
        self.env, self.log, self.cwd, self.argv = env, log, cwd, list(argv)
        self.child: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.unexpected_exits: list[int] = []

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.env['HTTP_PORT']}"

    @property
    def pid(self) -> int:
        """The running process's id (for its RSS)."""
        assert self.child is not None
        return self.child.pid

    def start(self) -> None:
        """Start a new process."""
        with self.log.open("ab") as out:
            self.child = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a power cut would (a process that had already
        ended is noted as such)."""
        assert self.child is not None
        if self.child.poll() is not None:
            self.unexpected_exits.append(self.child.returncode)
        else:
            self.child.send_signal(signal.SIGKILL)
            self.child.wait()
        self.kills += 1

    def watch(self) -> None:
        """Restart a process that ended by itself (and remember it did)."""
        if self.child is not None and self.child.poll() is not None:
            self.unexpected_exits.append(self.child.returncode)
            self.start()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 15 s."""
        if self.child is None or self.child.poll() is not None:
            return
        self.child.terminate()
        try:
            self.child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for an error message."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def wait_ready(process: Process, path: str = "/healthz", seconds: float = 60.0) -> None:
    """Until ``GET path`` answers 200, or raise with the log's tail if the process died."""
    assert process.child is not None
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if process.child.poll() is not None:
                code = process.child.returncode
                raise RuntimeError(f"the server exited ({code}):\n{process.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(process.url + path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not answer {path} in {seconds}s:\n{process.tail()}"
                )
            await asyncio.sleep(0.1)
