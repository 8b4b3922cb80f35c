"""``wolaiban demo --channels wecom``: the seed's three stories with staff, managers and supervisors
on WeCom (企业微信) and residents on WeChat customer service (微信客服), offline.

As the default demo (``sandbox/demo.py``), on the same shortened timers and temporary database,
with the WeCom emulator (both apps) and Twilio's on loopback instead of Telegram's: members
press their cards' buttons, residents answer the guided report's menus and rate by menu, and one
resident, silent past WeChat's 48-hour window, is reached by SMS. Then the month of history and
the rates, as the default demo prints them.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from bot.channels import BOOK
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.runtime import Stack
from bot.services.digest.daily import send_digest
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from core.directory_checks import validate_directory
from core.texts import render
from db.engine import open_database
from db.migrate import upgrade
from sandbox.demo import FROM_NUMBER, _print_rates, _serve_console
from sandbox.demo_history import make_history
from sandbox.demo_script import StoryFailed
from sandbox.demo_wecom_people import community_names, resident_names, wecom_directory
from sandbox.demo_wecom_script import WeComScript, wecom_clock
from sandbox.demo_wecom_view import print_transcript
from sandbox.harness import wecom_settings
from sandbox.serve import free_port, serving
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator
from sandbox.wecom import WeComEmulator

# A member's messages a moment apart, within WeCom's 30 a minute (the demo's pace, not WeCom's).
MEMBER_PACING = Limits(per_second=30.0, chat_interval=0.05, chat_caps=((30, 60.0),))
STAFF = ("liubo", "suxinghua", "yangzhao")  # the stories' communities' staff: the digest


async def play_wecom(folder: Path, language: str, console: bool) -> int:
    """Run the stories on WeCom and WeChat in ``folder``; 0 when every story reaches its end."""
    data = wecom_directory(language)
    directory = validate_directory(data)
    assert not isinstance(directory, list), directory
    db = open_database(f"sqlite+aiosqlite:///{folder / 'wolaiban.db'}")
    wecom, twilio = WeComEmulator(), TwilioEmulator()
    clock = wecom_clock(wecom)
    ctx = ServiceContext(db=db, default_language=language, channels=BOOK, clock=clock)
    try:
        await upgrade(db)
        await load_directory(ctx, directory)
        async with serving(wecom.app) as wecom_url, serving(twilio.app) as twilio_url:
            servers = (ctx, language, wecom, wecom_url, twilio, twilio_url)
            stack = _stack(*servers, console)
            await stack.start()
            script = WeComScript(
                TelegramEmulator(),  # never served: nobody is on Telegram here
                twilio,
                ctx,
                language,
                public_url=stack.settings.public_url,
                wecom=wecom,
                wechat_names=resident_names(data),
                communities=community_names(data, language),
            )
            try:
                await script.run_stories()
                await _digests(ctx, script)
            except StoryFailed as failed:
                print_transcript(script)
                print(render(language, "demo.failed_step", step=str(failed)), file=sys.stderr)
                return 1
            finally:
                await twilio.settle()  # delivery reports land before the server goes
                await stack.stop()
            # The month before now, with the stack stopped, on the real service levels.
            real = wecom_directory(language, fast=False)
            await make_history(ctx, real, end=ctx.clock())
            print_transcript(script)
            await _print_rates(ctx, language)
            if console:  # up again on what the month left, as the default demo
                await _console(ctx, language, twilio, _stack(*servers, True))
        return 0
    finally:
        await db.dispose()


def _stack(
    ctx: ServiceContext,
    language: str,
    wecom: WeComEmulator,
    wecom_url: str,
    twilio: TwilioEmulator,
    twilio_url: str,
    console: bool,
) -> Stack:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    wecom.bot_url = public  # the emulator's people write to this run
    values: dict[str, Any] = {
        "database_url": ctx.db.url,
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": twilio.auth_token,
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_url": twilio_url,
        "public_url": public,
        "http_port": port,
        "sms_per_second": 20,
        "sweep_seconds": 0.5,
        "default_language": language,
        **wecom_settings(wecom, wecom_url),
    }
    if console:  # a secret of this run only: the demo's console lives as long as the demo
        values["console_secret"] = secrets.token_urlsafe(32)
    settings = Settings(_env_file=None, **values)
    # The demo sends the digest itself, once the stories are done.
    pacing = {"wecom": MEMBER_PACING}
    return Stack(settings, ctx, pacing=pacing, scheduled_digests=False, scheduled_data=False)


async def _console(
    ctx: ServiceContext, language: str, twilio: TwilioEmulator, stack: Stack
) -> None:
    """The stack up with the staff console until Ctrl+C, and the town desk's sign-in link."""
    await stack.start()
    try:
        await _serve_console(ctx, stack, language)
    finally:
        await twilio.settle()
        await stack.stop()


async def _digests(ctx: ServiceContext, script: WeComScript) -> None:
    """The morning digest for the three communities' staff, on WeCom."""
    for person_id in STAFF:
        if await send_digest(ctx, person_id=person_id, on_demand=True) is None:
            raise StoryFailed(f"digest for {person_id}")
    await script.settled()
