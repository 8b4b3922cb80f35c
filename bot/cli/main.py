"""The ``wolaiban`` command line (docs/reference.md §1). Exit codes: 0 done, 1 not found or
refused, 2 usage or configuration error."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from bot.cli import backups  # light, as people: they import the services when they run
from bot.cli import people as people_cli
from core.cases import Status
from core.clean import printable

OK, USAGE = 0, 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    if not text.lstrip("#").isdigit():
        raise argparse.ArgumentTypeError(f"not a case number: {text!r}")
    return int(text.lstrip("#"))


def _positive_count(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="wolaiban", description="我来办 — community problems reported, fixed and rated."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="bot, HTTP server, scheduler and delivery in one process")
    demo = sub.add_parser("demo", help="the offline demo on a temporary database")
    demo.add_argument("--lang", choices=("zh", "en"), default=None)
    demo.add_argument("--keep", type=Path, metavar="DIR", help="keep the database in DIR")
    demo.add_argument(
        "--console", action="store_true", help="then keep the staff console up (Ctrl+C stops)"
    )
    demo.add_argument(
        "--channels",
        choices=("telegram", "wecom"),
        default="telegram",
        help="wecom: staff on WeCom, residents on WeChat customer service",
    )

    db = sub.add_parser("db", help="database schema, backup and restore").add_subparsers(
        dest="db", required=True
    )
    db.add_parser("upgrade", help="apply migrations up to the newest schema")
    backups.add_db_parsers(db)

    directory = sub.add_parser("directory", help="the directory file")
    dsub = directory.add_subparsers(dest="directory", required=True)
    for name, text in (("check", "validate FILE"), ("load", "apply FILE (all or nothing)")):
        dsub.add_parser(name, help=text).add_argument("file", type=Path, metavar="FILE")

    sub.add_parser(
        "invite", help="a one-time Telegram link (or WeCom code) for a person"
    ).add_argument("person", metavar="PERSON_ID")
    link = sub.add_parser("console-link", help="a one-time sign-in link to the staff console")
    link.add_argument("person", metavar="PERSON_ID")
    link.add_argument("--sms", action="store_true", help="text it to the person's phone")
    outbox = sub.add_parser("outbox", help="messages waiting, or given up on")
    outbox.add_argument("--dead", action="store_true", help="only messages given up on")
    outbox.add_argument("--json", action="store_true")

    cases = sub.add_parser("cases", help="list or show cases")
    csub = cases.add_subparsers(dest="cases", required=True)
    listing = csub.add_parser("list", help="open cases, or filtered")
    listing.add_argument(
        "--status",
        action="append",
        choices=[s.value for s in Status],
        metavar="S",
        help=f"repeatable; one of {', '.join(Status)}",
    )
    listing.add_argument("--community", metavar="C")
    listing.add_argument(
        "--limit", type=_positive_count, metavar="N", help="at most N cases (the oldest first)"
    )
    listing.add_argument("--json", action="store_true")
    show = csub.add_parser("show", help="one case with its events")
    show.add_argument("number", type=_positive, metavar="N")
    show.add_argument("--json", action="store_true")

    stats = sub.add_parser("stats", help="the three rates")
    stats.add_argument("--since", type=_date, metavar="D", help="first day (YYYY-MM-DD)")
    stats.add_argument("--until", type=_date, metavar="D", help="last day (YYYY-MM-DD)")
    stats.add_argument("--by", choices=("community", "manager"))
    stats.add_argument("--json", action="store_true")
    calendar = sub.add_parser("calendar", help="the working calendar (China's holidays)")
    calendar.add_subparsers(dest="calendar", required=True).add_parser(
        "check", help="which years it knows; exit 1 when it does not know this one"
    )
    apikey = sub.add_parser("apikey", help="Open311 API keys")
    asub = apikey.add_subparsers(dest="apikey", required=True)
    create = asub.add_parser("create", help="a new key, printed once")
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--community", action="append", default=[], metavar="ID", help="repeatable; else any"
    )
    create.add_argument(
        "--updates-url", metavar="URL", help="the city's endpoint each step is POSTed to, signed"
    )
    asub.add_parser("list", help="the keys (never the keys themselves)").add_argument(
        "--json", action="store_true"
    )
    asub.add_parser("revoke", help="a key stops working").add_argument("name", metavar="NAME")
    people_cli.add_parser(sub)
    return parser


def _command(args: argparse.Namespace) -> str:
    """The handler's name: ``stats``, ``cases list``, …"""
    name: str = args.command
    sub = (
        getattr(args, name, None)
        if name in ("db", "directory", "cases", "apikey", "people", "calendar")
        else None
    )
    return f"{name} {sub}" if sub else name


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (2 for a usage error, as argparse exits)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already explained on stderr
        return exit_.code if isinstance(exit_.code, int) else USAGE
    # Imported once the arguments are understood: `--help` and usage errors answer at once.
    from bot.cli import commands
    from bot.cli.env import Env
    from bot.config import SettingsError, load_settings
    from bot.directory_file import DirectoryFileError

    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"wolaiban: {error}", file=sys.stderr)
        return USAGE
    try:
        result = asyncio.run(commands.HANDLERS[_command(args)](args, Env(settings)))
    except SettingsError as error:
        print(f"wolaiban: {error}", file=sys.stderr)
        return USAGE
    except DirectoryFileError as error:
        print(printable(str(error)), file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        return OK
    try:
        if result.json is not None:
            print(printable(json.dumps(result.json, ensure_ascii=False, indent=2)))
        elif result.text:
            print(printable(result.text), file=sys.stdout if result.code == OK else sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:  # `wolaiban cases list --json | head`: the reader has had enough
        # Point stdout at nothing so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return result.code


if __name__ == "__main__":
    raise SystemExit(main())
