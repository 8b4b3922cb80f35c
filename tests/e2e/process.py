"""``wolaiban run`` as a child process the tests start, kill and start again: its environment."""

from __future__ import annotations

from pathlib import Path

from sandbox import child
from sandbox.harness import Emulators, run_settings, sqlite_url
from sandbox.serve import free_port


def run_env(database: Path, emulators: Emulators, **values: object) -> dict[str, str]:
    """The environment of a ``wolaiban run`` on a SQLite file, polling the emulator with quick
    pacing, on a port of its own; ``values`` (settings, by their lower-case names) add or
    override."""
    values = {"telegram_chat_interval": 0.1, **values}
    return child.run_env(run_settings(sqlite_url(database), emulators, port=free_port(), **values))
