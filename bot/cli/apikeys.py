"""``wolaiban apikey create NAME [--community ID]…`` / ``apikey list`` / ``apikey revoke NAME``:
the Open311 clients' keys (docs/reference.md §1). A new key is printed once; only its hash is
kept."""

from __future__ import annotations

import argparse
from datetime import datetime

from bot.cli.env import NOT_FOUND, USAGE, Env, Result
from bot.open311 import keys
from bot.services.cases.routing import local_zone
from bot.services.unit.context import ServiceRefusal
from core.tables import table


async def create(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban apikey create NAME [--community ID]… [--updates-url URL]``."""
    url: str | None = args.updates_url
    bad_url = keys.updates_url_refusal(url) if url is not None else None
    if bad_url is not None:  # before anything is made: a key without its endpoint is no use
        return Result(USAGE, env.say(bad_url.reason, **bad_url.params))
    async with env.context() as ctx:
        try:
            raw = await keys.create_key(ctx, name=args.name, communities=args.community)
            signing = await keys.set_updates(ctx, name=args.name, url=url) if url else None
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
    scope = ", ".join(sorted(set(args.community))) or env.say("open311.key_any")
    text = env.say("open311.key_created", name=args.name, scope=scope, secret=raw)
    if signing is not None:
        text += "\n" + env.say("open311.key_updates", url=url, secret=signing)
    return Result(text=text)


async def listing(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban apikey list``."""

    async with env.context() as ctx:
        rows = await keys.list_keys(ctx)
        tz = await local_zone(ctx)

    def at(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else None

    if args.json:
        return Result(
            json=[
                {
                    "name": r.name,
                    "communities": r.communities,
                    "created_at": at(r.created_at),
                    "revoked_at": at(r.revoked_at),
                }
                for r in rows
            ]
        )
    if not rows:
        return Result(text=env.say("open311.keys_empty"))
    headers = [env.say("open311.col.name"), env.say("open311.col.communities")]
    headers += [env.say("open311.col.created"), env.say("open311.col.revoked")]
    any_community = env.say("open311.key_any")
    return Result(
        text=table(
            headers,
            [
                [
                    r.name,
                    ", ".join(r.communities) or any_community,
                    at(r.created_at),
                    at(r.revoked_at),
                ]
                for r in rows
            ],
        )
    )


async def revoke(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban apikey revoke NAME``."""

    async with env.context() as ctx:
        try:
            await keys.revoke_key(ctx, name=args.name)
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
    return Result(text=env.say("open311.key_revoked", name=args.name))


HANDLERS = {"apikey create": create, "apikey list": listing, "apikey revoke": revoke}
