"""The read-only commands start light: neither Alembic nor charts nor the channels' libraries are
loaded to print the rates or list cases: each would cost every such command a share of its second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Cli, Scenario

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("alembic", "matplotlib", "telegram", "twilio", "uvicorn", "apscheduler")
PROBE = """
import sys
from bot.cli import main
code = main(sys.argv[1:])
print("loaded:", " ".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
raise SystemExit(code)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["stats"], ["stats", "--by", "manager", "--json"], ["cases", "list"]],
)
def test_read_only_commands_load_nothing_heavy(
    cli: Cli, scenario: Scenario, argv: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1].split() == ["loaded:"]
