"""docs/reference.md keeps up with the command line and the settings.

Every subcommand, option, choice and positional argument that ``wolaiban``'s parser accepts must
be named in §1 (each leaf command in its own ``### `wolaiban …``` subsection), and every variable
of ``.env.example`` (commented ``# NAME=`` ones too) and every field of ``bot.config.Settings`` in
§2. A new one left undocumented fails here, and the message says which.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from bot.cli.main import build_parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
ENV_EXAMPLE = ROOT / ".env.example"
HELP = ("-h", "--help")  # every parser has them; §1 says so once

Command = tuple[str, ...]


def section(number: int, text: str | None = None) -> str:
    """The text of ``## <number>. …`` up to the next ``## `` heading."""
    text = REFERENCE.read_text(encoding="utf-8") if text is None else text
    found = re.search(rf"^## {number}\. .*?(?=^## |\Z)", text, re.M | re.S)
    assert found is not None, f"docs/reference.md has no section '## {number}. …'"
    return found.group(0)


def subsections(text: str) -> dict[str, str]:
    """``### `` heading line -> the subsection's text (heading included)."""
    return {part.split("\n", 1)[0]: part for part in re.split(r"^### ", text, flags=re.M)[1:]}


def named(word: str, text: str) -> bool:
    """True when ``word`` stands in ``text`` on its own (``--json`` is not ``--jsonl``)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def commands(
    parser: argparse.ArgumentParser, path: Command = ()
) -> Iterator[tuple[Command, argparse.ArgumentParser, bool]]:
    """Every (sub)command below ``parser``: its path, its parser, and whether it is a leaf."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if path:
        yield path, parser, not groups
    for group in groups:
        for name, sub in group.choices.items():
            yield from commands(sub, (*path, name))


def words_of(parser: argparse.ArgumentParser) -> list[str]:
    """What a command's subsection must name: options, their choices, positional metavars."""
    words: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.option_strings:
            words += action.option_strings
        else:
            words.append(str(action.metavar or action.dest))
        words += [str(choice) for choice in action.choices or ()]
    return words


def missing_commands(parser: argparse.ArgumentParser, text: str) -> list[str]:
    """What §1 (``text``) fails to name of ``parser``'s commands, as readable lines."""
    missing = [f"option {o} (of every command)" for o in HELP if not named(o, text)]
    headings = subsections(text)
    for path, sub, leaf in commands(parser):
        command = "wolaiban " + " ".join(path)
        if not named(command, text):
            missing.append(f"command `{command}`")
            continue
        if not leaf:
            continue
        body = next((b for h, b in headings.items() if named(command, h)), None)
        if body is None:
            missing.append(f"a '### `{command} …`' subsection")
            continue
        missing += [
            f"{w!r} in the subsection of `{command}`"
            for w in words_of(sub)
            if w not in HELP and not named(w, body)
        ]
    return missing


def env_example_names() -> list[str]:
    """Every ``NAME=`` of ``.env.example``, set or commented out."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return re.findall(r"^[ \t]*#?[ \t]*([A-Z][A-Z0-9_]*)=", text, re.M)


def settings_names() -> list[str]:
    """The environment variable of every field of ``Settings``."""
    prefix = str(Settings.model_config.get("env_prefix") or "")
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names.append((alias or field.alias or f"{prefix}{name}").upper())
    return names


def missing_settings(names: Iterable[str], text: str) -> list[str]:
    """The ``names`` that §2 (``text``) does not name."""
    return sorted({n for n in names if not re.search(rf"(?<![A-Z0-9_]){n}(?![A-Z0-9_])", text)})


def test_every_command_and_option_is_in_section_1() -> None:
    missing = missing_commands(build_parser(), section(1))
    assert not missing, "docs/reference.md §1 does not document:\n  " + "\n  ".join(missing)


def test_every_setting_is_in_section_2() -> None:
    from_example, from_settings = env_example_names(), settings_names()
    assert "DATABASE_URL" in from_example
    assert "DATABASE_URL" in from_settings
    missing = {
        ".env.example": missing_settings(from_example, section(2)),
        "bot.config.Settings": missing_settings(from_settings, section(2)),
    }
    lines = [f"{name} (from {where})" for where, names in missing.items() for name in names]
    assert not lines, "docs/reference.md §2 does not document:\n  " + "\n  ".join(lines)


def test_the_checks_notice_what_is_missing() -> None:
    """An undocumented subcommand, option or setting is caught (the checks above can fail)."""
    parser = build_parser()
    group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    group.add_parser("frobnicate").add_argument("--frobs", choices=("few", "many"))
    stats = group.choices["stats"]
    stats.add_argument("--sideways", action="store_true")
    found = missing_commands(parser, section(1))
    assert "command `wolaiban frobnicate`" in found
    assert "'--sideways' in the subsection of `wolaiban stats`" in found
    assert missing_settings(["DATABASE_URL", "NOT_A_SETTING_YET"], section(2)) == [
        "NOT_A_SETTING_YET"
    ]
    lacking = section(1).replace("--json", "--jsn")
    assert "'--json' in the subsection of `wolaiban cases show`" in missing_commands(
        build_parser(), lacking
    )
