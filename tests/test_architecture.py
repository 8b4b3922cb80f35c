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
        "bot.console",
        "bot.open311",
        "bot.channels",
        "bot.adapter",
        "bot.delivery",
        "bot.app",
        "bot.cli",
        "scheduler",
        "sandbox",
        "bot.commands",
        "bot.demo",
        "bot.web",
    ),
    "scheduler": (
        "bot.telegram",
        "bot.sms",
        "bot.console",
        "bot.open311",
        "bot.delivery",
        "bot.app",
        "sandbox",
    ),
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


CHANNELS = ("bot.telegram", "bot.sms", "bot.console", "bot.open311")


def test_channels_do_not_import_each_other() -> None:
    # bot.delivery is the shared way out (dispatcher, pacing, outcomes): channels use it, and it
    # knows no channel.
    packages = (*CHANNELS, "bot.delivery")
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in packages
        for path in _files(package.replace(".", "/"))
        for name in _imports(path)
        if any(name.startswith(other) for other in CHANNELS if other != package)
    ]
    assert wrong == []


# A vendor's vocabulary: its method names, its error codes, its identifiers.
VENDOR_WORDS = (
    "telegram_id",
    "sendMessage",
    "send_message",
    "edit_message_text",
    "answerCallbackQuery",
    "21610",
    "30003",
    "MessageSid",
    "twilio",
    "TwiML",
)


@pytest.mark.parametrize("folder", ["core", "bot/services"])
def test_use_cases_speak_no_vendor(folder: str) -> None:
    """The use cases ask the channel registry; only the adapters (and the directory file's
    parser, which reads its ``telegram_id`` field) know a vendor."""
    parsers = {
        "core/directory.py",
        "core/directory_checks.py",
        "bot/services/directory_identities.py",
    }
    wrong = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in _files(folder)
        if str(path.relative_to(ROOT)) not in parsers
        for word in VENDOR_WORDS
        if word.casefold() in path.read_text(encoding="utf-8").casefold()
    ]
    assert wrong == []
