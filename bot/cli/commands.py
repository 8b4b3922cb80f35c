"""What each ``wolaiban`` subcommand does: ``bot.cli`` parses and prints, this calls services."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

from bot import app
from bot.cli import apikeys, backups, people
from bot.cli import calendar as calendar_cli
from bot.cli import invites as invite_cli
from bot.cli.env import NOT_FOUND, Env, Result
from bot.config import SettingsError
from bot.delivery import store
from bot.services.cases import routing
from bot.services.staff import signin, stats, views
from bot.services.unit.context import ServiceRefusal
from core.cases import OPEN_STATUSES, Status
from core.clean import printable
from core.tables import percent, table

# What ``printable`` may escape: anything but tab, newline, printable ASCII, CJK punctuation and
# ideographs, and the full-width forms (none of them a control, format or separator character).
_MAYBE_ESCAPED = re.compile(r"[^\t\n\x20-\x7e\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff01-\uffef]")

# Alembic and the directory file's reader and loader are imported by the commands that use them:
# the read-only ones (stats, cases, outbox) start without them.


async def run(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban run``."""
    await app.run(env.settings)
    return Result()


async def play_demo(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban demo``."""
    # The demo drives the product with the emulators; only this command ever loads them.
    from sandbox.demo import play

    language = args.lang or env.language
    return Result(
        code=await play(
            language=language, keep=args.keep, console=args.console, channels=args.channels
        )
    )


async def db_upgrade(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban db upgrade``."""
    from db.migrate import head_revision, upgrade

    async with env.context(prepare=False) as ctx:
        await upgrade(ctx.db)
    return Result(text=env.say("cli.upgraded", revision=head_revision()))


async def directory_check(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban directory check FILE`` — validate, and say which open cases a load would hand
    on (read only: a database that does not exist yet is not made)."""
    from bot.cli.moves import moves_line, planned_moves
    from bot.directory_file import read_directory

    directory = read_directory(args.file)
    lines = [
        env.say(
            "cli.directory_ok",
            file=args.file,
            communities=len(directory.communities),
            people=len(directory.people),
            categories=len(directory.categories),
            routes=len(directory.routing),
        )
    ]
    moves = await planned_moves(directory, env.settings, env.language)
    if isinstance(moves, str):
        lines.append(env.say("cli.directory_moves_unknown", error=moves))
    elif moves:
        lines.append(moves_line(env.language, "cli.directory_would_move", moves))
    return Result(text="\n".join(lines))


async def directory_load(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban directory load FILE`` — all or nothing."""
    from bot.directory_file import read_directory
    from bot.services.directory.load import load_directory

    directory = read_directory(args.file)
    async with env.context() as ctx:
        summary = await load_directory(ctx, directory)
    if not summary.changed:
        return Result(text=env.say("cli.directory_unchanged", file=args.file))
    counts = {k: summary.counts[k] for k in ("added", "updated", "deactivated", "deleted")}
    text = env.say("cli.directory_loaded", file=args.file, **counts)
    if summary.moves:
        from bot.cli.moves import moves_line

        text += "\n" + moves_line(env.language, "cli.directory_moved", summary.moves)
    return Result(text=text)


async def console_link(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban console-link PERSON_ID [--sms]`` — a one-time sign-in link to the console."""
    if not env.settings.console_enabled:
        raise SettingsError(env.say("cli.console_off"))
    async with env.context() as ctx:
        try:
            token, person = await signin.issue_token(ctx, person_id=args.person)
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
        url = f"{env.settings.public_url.rstrip('/')}/console/login/{token}"
        if args.sms:
            if not await signin.text_link(ctx, person=person, url=url):
                return Result(NOT_FOUND, env.say("cli.console_no_sms", person=person.id))
            return Result(text=env.say("cli.console_link_texted", name=person.name))
    return Result(text=f"{env.say('cli.console_link', name=person.name)}\n{url}")


async def outbox_list(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban outbox [--dead]``."""
    async with env.context() as ctx:
        rows = await store.outbox_messages(ctx, dead=args.dead)
        tz = await routing.local_zone(ctx)
    if args.json:
        return Result(json=[row.model_dump(mode="json", exclude={"photo"}) for row in rows])
    if not rows:
        return Result(text=env.say("cli.outbox_dead_empty" if args.dead else "cli.outbox_empty"))
    headers = [env.say(f"col.{c}") for c in ("id", "channel", "to", "template", "attempts")]
    headers += [env.say("col.next"), env.say("col.error")]
    return Result(
        text=table(
            headers,
            [
                [
                    r.id,
                    r.channel,
                    r.address,
                    r.template,
                    r.attempts,
                    r.next_attempt_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    r.last_error,
                ]
                for r in rows
            ],
        )
    )


async def cases_list(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban cases list``."""
    statuses = args.status or [s.value for s in OPEN_STATUSES]
    community, limit = args.community, args.limit
    async with env.context() as primary, app.reading(primary) as ctx:
        if args.json:
            batches = views.case_batches(ctx, statuses=statuses, community=community, limit=limit)
            with contextlib.suppress(BrokenPipeError):  # `| head` has had enough (bot.cli.main)
                await _print_json_list(batches)
            return Result()
        lines = await views.case_lines(ctx, statuses=statuses, community=community, limit=limit)
    if not lines:
        return Result(text=env.say("cli.no_cases"))
    columns = ("number", "status", "community", "category", "manager", "created", "location")
    said = {s.value: env.say(f"status.{s.value}") for s in Status}  # not once per line
    rows = [_row(c, said) for c in lines]
    return Result(text=table([env.say(f"col.{c}") for c in columns], rows))


async def _print_json_list(batches: AsyncIterator[list[dict[str, Any]]]) -> None:
    """The JSON list the batches make, printed a batch at a time exactly as ``bot.cli.main``
    prints a whole ``Result.json`` (indented by two, escaped for a terminal), so the memory held
    is one batch's, never the whole list's."""
    out, first = sys.stdout, True
    async for batch in batches:
        rows = [
            _printable("  " + json.dumps(r, ensure_ascii=False, indent=2).replace("\n", "\n  "))
            for r in batch
        ]
        out.write(("[\n" if first else ",\n") + ",\n".join(rows))
        first = False
    out.write("[]\n" if first else "\n]\n")


def _printable(text: str) -> str:
    """``core.clean.printable``, skipped for text of characters it always keeps as they are (it
    looks at every character: a third of the time of a long listing)."""
    return printable(text) if _MAYBE_ESCAPED.search(text) else text


def _row(case: views.CaseLine, statuses: dict[str, str]) -> list[object]:
    return [
        f"#{case.number}",
        statuses.get(case.status, case.status),
        case.community_name,
        case.category_name,
        case.manager,
        case.created,
        case.location,
    ]


async def cases_show(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban cases show N``."""
    async with env.context() as ctx:
        case = await views.show_case(ctx, number=args.number)
    if case is None:
        return Result(NOT_FOUND, env.say("cli.no_such_case", number=args.number))
    if args.json:
        return Result(json=case)
    head = table(
        ["", ""],
        [
            [env.say(f"col.{k}") if k != "number" else "#", v]
            for k, v in [
                ("number", case["number"]),
                ("status", env.say(f"status.{case['status']}")),
                ("community", case["community_name"]),
                ("category", case["category_name"]),
                ("location", case["location"]),
                ("manager", case["manager_name"]),
                ("created", case["created_at"]),
                ("photos", len(case["photos"])),
                ("followers", case["followers"]),
            ]
        ],
        max_cell=60,
    )
    events = table(
        [env.say(f"col.{c}") for c in ("at", "kind", "actor", "channel", "note")],
        [
            [e["at"], env.say(f"event.{e['kind']}"), e["actor_name"], e["channel"], e["note"]]
            for e in case["events"]
        ],
    )
    body = f"{case['description']}\n\n{env.say('cli.events')}\n{events}"
    if case["following"]:
        body += f"\n\n{env.say('cli.following')}\n{_following(case['following'], env)}"
    return Result(text=f"{head}\n\n{body}")


def _following(following: list[dict[str, object]], env: Env) -> str:
    """The ``Following`` table of ``cases show``: the same as its JSON, by person id."""
    columns = ("person", "channel", "since", "via", "rating")
    rows = [
        [
            f["person"],
            f["channel"],
            f["since"],
            f"#{f['via_case']}" if f["via_case"] is not None else "",
            env.say(f"rating.{f['rating']}") if f["rating"] else "",
        ]
        for f in following
    ]
    return table([env.say(f"col.{c}") for c in columns], rows)


async def stats_show(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban stats``."""
    period = stats.Period(since=args.since, until=args.until)
    async with env.context() as primary, app.reading(primary) as ctx:
        found = await stats.rates(ctx, period=period, by=args.by)
    if args.json:
        if args.by is None:
            return Result(json=found[""].as_dict())
        return Result(json=[{"key": key, **rates.as_dict()} for key, rates in found.items()])
    span = (
        f"{args.since or '…'} – {args.until or '…'}"
        if args.since or args.until
        else env.say("cli.period_all")
    )
    columns = ("key", "cases", "response", "resolution", "satisfaction")
    rows = [
        [
            key or "—",
            r.cases,
            percent(r.response_rate),
            percent(r.resolution_rate),
            percent(r.satisfaction_rate),
        ]
        for key, r in found.items()
    ]
    title = env.say("cli.rates_title", period=span)
    return Result(text=f"{title}\n{table([env.say(f'col.{c}') for c in columns], rows)}")


HANDLERS = {
    "run": run,
    "demo": play_demo,
    "db upgrade": db_upgrade,
    "directory check": directory_check,
    "directory load": directory_load,
    "invite": invite_cli.invite,
    "console-link": console_link,
    "outbox": outbox_list,
    "cases list": cases_list,
    "cases show": cases_show,
    "stats": stats_show,
}
HANDLERS.update(apikeys.HANDLERS)
HANDLERS.update(calendar_cli.HANDLERS)
HANDLERS.update(people.HANDLERS)
HANDLERS.update(backups.HANDLERS)
