"""``wolaiban demo``: the seed's three stories through the real stack, offline.

The Telegram and Twilio emulators run on loopback, the real ``run`` stack (PTB polling, the HTTP
server, delivery, the scheduler) runs against them on a temporary SQLite database, and scripted
people play the stories with the timers shortened to seconds. Everything each person sees is
printed in order; a story that does not reach its end stops the demo with the step that failed.
Then, with the stack stopped, a month of history is played beside the stories on the real service
levels (``sandbox/demo_history.py``), so the rates, and the console of ``--console``, have a town
to show.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bot.channels import BOOK
from bot.config import Settings
from bot.delivery.pacing import Limits
from bot.runtime import Stack
from bot.services.digest.daily import send_digest
from bot.services.directory.load import load_directory
from bot.services.staff import signin, stats
from bot.services.unit.context import ServiceContext
from core.directory_checks import validate_directory
from core.tables import percent, table
from core.texts import render
from db.engine import open_database
from db.migrate import upgrade
from sandbox.demo_history import make_history
from sandbox.demo_script import Script, StoryFailed
from sandbox.demo_view import stale_cards
from sandbox.serve import free_port, serving
from sandbox.telegram import Limits as TelegramLimits
from sandbox.telegram import TelegramEmulator
from sandbox.twilio import TwilioEmulator

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "changyang.yaml"
FROM_NUMBER = "+8610690000099"
# Seconds instead of minutes and hours, and no quiet hours: the demo may run at any time of day.
FAST = {
    "ack_within": "4s",
    "remind_every": "2s",
    "escalate_after": 2,
    "resolve_within": "1h",
    "confirm_within": "1h",
    "quiet_hours": None,
}
# Demo-only (not in the example file): someone at the town's desk (镇网格中心) on the staff of every
# community, whose console sign-in shows the whole town. No phone and no Telegram: they work in the
# console, and the stories' escalations to staff reach nobody new (the transcript stays as it was).
TOWN_DESK = {"id": "town-desk", "name": "韩梅", "role": "staff"}


def demo_directory(language: str, *, fast: bool = True) -> dict[str, Any]:
    """The example directory and the town desk in ``language``; ``fast``: the stories' timings."""
    # Without ``fast``: the example's own service levels (the month of history runs on them).
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["people"].append(dict(TOWN_DESK))
    for community in data["communities"]:
        community["staff"] = [*community.get("staff", []), TOWN_DESK["id"]]
    for person in data["people"]:
        person["language"] = language
    if not fast:
        return data
    data["defaults"] = {**data.get("defaults", {}), **FAST}
    for category in data["categories"]:
        for key in ("ack_within", "remind_every", "resolve_within", "confirm_within"):
            category.pop(key, None)
        category.pop("working_days", None)  # a weekend must not stall the demo
    return data


async def play(
    *, language: str, keep: Path | None, console: bool = False, channels: str = "telegram"
) -> int:
    """Run the demo; 0 when every story reaches its expected end."""
    # With ``console``, the server and the staff console stay up afterwards, with a sign-in link
    # for the town desk, until Ctrl+C. ``channels``: "wecom" plays the stories on WeCom and
    # WeChat customer service instead (sandbox/demo_wecom.py).
    folder = Path(tempfile.mkdtemp(prefix="wolaiban-demo-"))
    started = time.monotonic()
    try:
        if channels == "wecom":
            from sandbox.demo_wecom import play_wecom  # it builds on this module

            return await play_wecom(folder, language, console)
        return await _play(folder, language, console)
    finally:
        _clean_up(folder, keep)
        print(render(language, "demo.took", seconds=f"{time.monotonic() - started:.1f}"))


async def _play(folder: Path, language: str, console: bool) -> int:
    directory = validate_directory(demo_directory(language))
    assert not isinstance(directory, list), directory
    db = open_database(f"sqlite+aiosqlite:///{folder / 'wolaiban.db'}")
    ctx = ServiceContext(db=db, default_language=language, channels=BOOK)
    telegram = TelegramEmulator(limits=TelegramLimits(private_interval=0.05))
    twilio = TwilioEmulator()
    try:
        await upgrade(db)
        await load_directory(ctx, directory)
        async with serving(telegram.app) as telegram_url, serving(twilio.app) as twilio_url:
            stack = _stack(ctx, language, telegram, twilio, telegram_url, twilio_url, console)
            await stack.start()
            script = Script(telegram, twilio, ctx, language, public_url=stack.settings.public_url)
            try:
                await script.run_stories()
                await _digests(ctx, script, folder)
                await _cards_current(ctx, telegram)
            except StoryFailed as failed:
                script.print_transcript()
                print(render(language, "demo.failed_step", step=str(failed)), file=sys.stderr)
                return 1
            finally:
                await twilio.settle()  # delivery reports land before the server goes
                await stack.stop()
            # The month before now, made after the stories (theirs stay cases #1-#3 and their
            # digests are as they were) and with the stack stopped (a live sweep would step a
            # month of timers at once); on the example's real service levels from here on.
            history = await make_history(ctx, demo_directory(language, fast=False), end=ctx.clock())
            script.print_transcript()
            await _print_rates(ctx, language)
            if console:
                for person in history.residents:
                    if "telegram_id" in person:  # a chat for what the console's actions tell them
                        telegram.add_user(person["telegram_id"], person["name"], language)
                # Up again, on what the month left: the console shows it, and what is done there
                # now is told to people as on any day.
                stack = _stack(ctx, language, telegram, twilio, telegram_url, twilio_url, True)
                await stack.start()
                try:
                    await _serve_console(ctx, stack, language)
                finally:
                    await twilio.settle()
                    await stack.stop()
        return 0
    finally:
        await db.dispose()


def _stack(
    ctx: ServiceContext,
    language: str,
    telegram: TelegramEmulator,
    twilio: TwilioEmulator,
    telegram_url: str,
    twilio_url: str,
    console: bool = False,
) -> Stack:
    port = free_port()
    # A secret of this run only: the demo's console lives as long as the demo.
    secret = {"console_secret": secrets.token_urlsafe(32)} if console else {}
    settings = Settings(
        _env_file=None,
        database_url=ctx.db.url,
        telegram_bot_token=telegram.token,
        telegram_api_url=telegram_url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number=FROM_NUMBER,
        twilio_api_url=twilio_url,
        public_url=f"http://127.0.0.1:{port}",
        http_port=port,
        sms_per_second=20,
        sweep_seconds=0.5,
        default_language=language,
        **secret,  # type: ignore[arg-type]
    )
    # The demo sends the digest itself, once the stories are done.
    return Stack(
        settings, ctx, pacing={"telegram": Limits(chat_interval=0.05)}, scheduled_digests=False
    )


async def _serve_console(ctx: ServiceContext, stack: Stack, language: str) -> None:
    """Keep the server up with the console, and print a sign-in link for the town desk."""
    token, person = await signin.issue_token(ctx, person_id=TOWN_DESK["id"])
    url = f"{stack.settings.public_url}/console/login/{token}"
    print()
    print(render(language, "demo.console", name=person.name, url=url))
    sys.stdout.flush()
    await stack.wait()


async def _digests(ctx: ServiceContext, script: Script, folder: Path) -> None:
    """The morning digest for the three communities' staff: text and chart."""
    for person_id in ("liubo", "suxinghua", "yangzhao"):
        message = await send_digest(ctx, person_id=person_id, on_demand=True)
        if message is None:
            raise StoryFailed(f"digest for {person_id}")
    await script.wait_for_digests(folder)


async def _cards_current(ctx: ServiceContext, telegram: TelegramEmulator) -> None:
    """The end of every story is what each chat shows: no card of a closed case reads otherwise."""
    problems = await stale_cards(ctx, telegram)
    if problems:
        raise StoryFailed("cards showing an old status: " + "; ".join(problems))


async def _print_rates(ctx: ServiceContext, language: str) -> None:
    found = await stats.rates(ctx, by="community")
    columns = ("key", "cases", "response", "resolution", "satisfaction")
    rows = [
        [
            key,
            r.cases,
            percent(r.response_rate),
            percent(r.resolution_rate),
            percent(r.satisfaction_rate),
        ]
        for key, r in found.items()
    ]
    print()
    print(render(language, "demo.rates"))
    print(table([render(language, f"col.{c}") for c in columns], rows))


def _clean_up(folder: Path, keep: Path | None) -> None:
    """Copy the database and the charts to ``keep`` when asked; remove the temporary folder."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if path.suffix in (".db", ".png"):
                shutil.copy(path, keep / path.name)
    shutil.rmtree(folder, ignore_errors=True)
