"""``wolaiban people find QUERY`` / ``people export QUERY [--json]`` / ``people erase QUERY
[--yes]``: a resident's data on request (docs/reference.md §1). QUERY is a phone in any written
form, a chat id or a person id; export and erase need it to name one person."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

# The command line builds its parser before it reads anything: the services are imported by the
# handlers, so ``wolaiban --help`` and a usage error stay instant (tests/cli/test_startup.py).
if TYPE_CHECKING:
    from bot.cli.env import Env, Result
    from bot.services.data.people import PersonSummary
    from bot.services.unit.context import Actor, ServiceContext

YES = ("yes", "y", "是")


def _operator() -> Actor:
    """Who asks from the command line: the operator, who is no person of the directory."""
    from bot.services.unit.context import Actor
    from core.cases import Channel

    return Actor(None, Channel.CLI)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``people find|export|erase`` to the command line's subcommands."""
    people = sub.add_parser("people", help="a person's data on request: find, export, erase")
    psub = people.add_subparsers(dest="people", required=True)
    query = {"metavar": "QUERY", "help": "a phone (any form), a chat id or a person id"}
    psub.add_parser("find", help="who a phone, chat id or person id names").add_argument(
        "query", **query
    )
    export = psub.add_parser("export", help="everything held about one person")
    export.add_argument("query", **query)
    export.add_argument("--json", action="store_true", help="all of it, as JSON")
    erase = psub.add_parser("erase", help="erase one person's data (not the directory's people)")
    erase.add_argument("query", **query)
    erase.add_argument(
        "--yes", action="store_true", help="do not ask (needed when not at a terminal)"
    )


async def _one(ctx: ServiceContext, env: Env, query: str) -> PersonSummary | Result:
    """The one person ``query`` names, or the refusal to print (none, or several)."""
    from bot.cli.env import NOT_FOUND, Result
    from bot.services.data.people import find_people

    found = await find_people(ctx, query)
    if not found:
        return Result(NOT_FOUND, env.say("people.none", query=query))
    if len(found) > 1:
        ids = ", ".join(p.id for p in found)
        return Result(NOT_FOUND, env.say("people.many", query=query, count=len(found), ids=ids))
    return found[0]


async def find(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban people find QUERY``."""
    from bot.cli.env import NOT_FOUND, Result
    from bot.services.data.people import find_people
    from core.tables import table

    async with env.context() as ctx:
        found = await find_people(ctx, args.query)
    if not found:
        return Result(NOT_FOUND, env.say("people.none", query=args.query))
    headers = [env.say("col.id"), *(env.say(f"people.col.{c}") for c in ("name", "role"))]
    headers += [env.say(f"people.col.{c}") for c in ("source", "addresses")]
    headers += [env.say("col.cases"), env.say("people.col.aliases")]
    rows = [
        [
            p.id,
            p.name,
            env.say(f"role.{p.role}"),
            p.source if p.active else env.say("people.retired", source=p.source),
            " ".join(f"{channel}:{address}" for channel, address in p.identities),
            p.cases,
            " ".join(p.aliases),
        ]
        for p in found
    ]
    return Result(text=table(headers, rows))


async def export(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban people export QUERY [--json]``."""
    from bot.cli.env import NOT_FOUND, Result
    from bot.services.data.people import export_person
    from bot.services.unit.context import ServiceRefusal

    async with env.context() as ctx:
        one = await _one(ctx, env, args.query)
        if isinstance(one, Result):
            return one
        try:
            data = await export_person(ctx, one.id, actor=_operator())
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
    if args.json:
        return Result(json=data)
    counts = {k: len(data[k]) for k in ("identities", "cases", "photos", "messages", "drafts")}
    text = env.say(
        "people.exported",
        name=data["person"]["name"],
        person=one.id,
        receipts=len(data["receipts"]),
        query=args.query,
        **counts,
    )
    return Result(text=text)


async def erase(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban people erase QUERY [--yes]``: asks first at a terminal, refuses elsewhere."""
    from bot.cli.env import NOT_FOUND, Result
    from bot.services.data.people import erase_person
    from bot.services.unit.context import ServiceRefusal

    async with env.context() as ctx:
        one = await _one(ctx, env, args.query)
        if isinstance(one, Result):
            return one
        if not args.yes and not await _confirmed(env, one):
            return Result(NOT_FOUND, env.say("people.needs_yes", person=one.id, name=one.name))
        try:
            done = await erase_person(ctx, one.id, actor=_operator())
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
    lines = [env.say("people.erased", person=one.id, new=done.person_id, **done.counts())]
    if done.opt_outs_kept:
        lines.append(env.say("people.opt_outs_kept", count=done.opt_outs_kept))
    return Result(text="\n".join(lines))


async def _confirmed(env: Env, person: PersonSummary) -> bool:
    """At a terminal, the operator typed yes; anywhere else (a script, a pipe) no one can."""
    if not sys.stdin.isatty():
        return False
    prompt = env.say("people.confirm", person=person.id, name=person.name, cases=person.cases)
    try:
        answer = await asyncio.to_thread(input, prompt)
    except EOFError:
        return False
    return answer.strip().casefold() in YES


HANDLERS = {"people find": find, "people export": export, "people erase": erase}
