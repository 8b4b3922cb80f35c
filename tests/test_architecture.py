"""The arrows point one way: core <- db <- bot.services <- channels/scheduler <- bot.app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("core", "db", "bot", "scheduler", "sandbox")

# For each package: what of ours it may not import.
FORBIDDEN = {
    "core": ("db", "bot", "scheduler", "sandbox"),
    "db": ("bot", "scheduler", "sandbox"),
    "bot/services": (
        "bot.telegram",
        "bot.sms",
        "bot.delivery",
        "bot.app",
        "bot.cli",
        "scheduler",
        "sandbox",
        "bot.commands",
        "bot.demo",
        "bot.web",
    ),
    "scheduler": ("bot.telegram", "bot.sms", "bot.delivery", "bot.app", "sandbox"),
    "bot": ("sandbox",),
}
# The one door from the product to the sandbox: `wolaiban demo` starts the emulators.
EXCEPTIONS = {("bot/commands.py", "sandbox.demo")}
# core may use the standard library and pydantic only.
CORE_ALLOWED_THIRD_PARTY = ("pydantic", "pydantic_core")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_against_the_arrows(folder: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files(folder)
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[folder])
        and (str(path.relative_to(ROOT)), name) not in EXCEPTIONS
    ]
    assert wrong == []


def test_core_is_pure() -> None:
    import sys

    stdlib = sys.stdlib_module_names
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _files("core")
        for name in _imports(path)
        if name.split(".")[0] not in stdlib
        and name.split(".")[0] not in (*CORE_ALLOWED_THIRD_PARTY, "core", "__future__")
    ]
    assert wrong == []


def test_channels_do_not_import_each_other() -> None:
    channels = ("bot.telegram", "bot.sms", "bot.delivery")
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for channel in channels
        for path in _files(channel.replace(".", "/"))
        for name in _imports(path)
        if any(name.startswith(other) for other in channels if other != channel)
    ]
    assert wrong == []
