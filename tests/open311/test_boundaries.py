"""Open311 is one more adapter: it imports no other channel (the delivery it may: its sender
pushes updates to cities, as every channel's sender does); the use cases import nothing of it
(tests/test_architecture.py keeps the rest of the arrows)."""

from __future__ import annotations

from tests.test_architecture import ROOT, _files, _imports

OTHER_CHANNELS = ("bot.telegram", "bot.sms", "bot.console", "sandbox")


def test_open311_imports_no_other_channel() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{found.line}: {found.text}"
        for path in _files("bot/open311")
        for found in _imports(path)
        if found.target.startswith(OTHER_CHANNELS)
    ]
    assert wrong == []


def test_the_use_cases_do_not_know_open311() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{found.line}: {found.text}"
        for path in [*_files("bot/services"), *_files("core"), *_files("db")]
        for found in _imports(path)
        if found.target.startswith("bot.open311")
    ]
    assert wrong == []
