"""``wolaiban invite PERSON_ID``: a one-time code that binds a person's chat account — a Telegram
deep link, and the code to send the WeCom app when WeCom runs."""

from __future__ import annotations

import argparse

from bot import app
from bot.cli.env import NOT_FOUND, Env, Result
from bot.config import SettingsError
from bot.services.cases import routing
from bot.services.staff import views
from bot.services.talk import invites
from bot.services.unit.context import ServiceRefusal


async def invite(args: argparse.Namespace, env: Env) -> Result:
    """``wolaiban invite PERSON_ID`` — a one-time deep link, or a code for the WeCom app."""
    telegram = env.settings.telegram_bot_token is not None
    if not (telegram or env.settings.wecom_enabled):
        raise SettingsError(env.say("cli.invite_needs_bot"))
    username = await app.bot_username(env.settings) if telegram else None
    async with env.context() as ctx:
        try:
            made = await invites.create_invite(ctx, person_id=args.person)
        except ServiceRefusal as refusal:
            return Result(NOT_FOUND, env.say(refusal.reason, **refusal.params))
        person = await views.person_name(ctx, person_id=made.person_id)
        tz = await routing.local_zone(ctx)
    expires = made.expires_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    lines = [env.say("cli.invite", name=person, person=made.person_id, expires=expires)]
    if username is not None:
        lines.append(f"https://t.me/{username}?start={made.code}")
    if env.settings.wecom_enabled:
        lines.append(env.say("cli.invite_wecom", code=made.code))
    return Result(text="\n".join(lines))
