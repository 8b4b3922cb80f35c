"""``wolaiban run`` as a real process, on SQLite and (when configured) PostgreSQL: after a signed
SMS report and a manager's reply code, a console sign-in link texted by ``wolaiban console-link
--sms`` and one asked for with ``/web`` on Telegram (and spent), and an Open311 POST with a key and
a phone, the whole log of the run holds no Twilio sid, bot token, auth token, console secret,
sign-in token, API key or phone number in any form — and the outbox keeps no sign-in token once
the link's message was sent.

The log is checked to be the run's (it has the lines a run writes, and the masked forms the
redactor leaves), so an empty or unread log cannot pass."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from bot.channels import BOOK
from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from core.texts import render
from db.engine import Database, open_database
from db.models import OutboxMessage
from sandbox.child import Process, run_env
from sandbox.harness import (
    FROM_NUMBER,
    add_people,
    directory_file,
    eventually,
    example_directory,
    run_settings,
    serve_emulators,
    until,
)
from sandbox.serve import free_port
from sandbox.telegram import Limits, TelegramEmulator
from sandbox.twilio import API_VERSION, TwilioEmulator, new_sid
from tests.conftest import BACKENDS
from tests.e2e.process import child_database

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

# An operator's INFO (the default), and DEBUG: whatever a run may write, none of it leaks.
LEVELS = ("INFO", "DEBUG")
CONSOLE_SECRET = "log-leak-console-secret-5f0c2a9d"
SECONDS = 30.0

# The example directory (examples/changyang.yaml), and residents it does not know.
YUANXIANG_NUMBER = "+8610690000003"  # yuanxiang's own SMS number
JZSJ_SOUTH_NUMBER = "+8610690000001"  # jzsj-south's
MANAGER_PHONE = "+8613800000013"  # mgr-yuanxiang: no Telegram, reached by SMS (A<n> / D<n>)
LIUBO_PHONE = "+8613800000001"  # liubo, staff of jzsj-south
LIUBO = 1001  # liubo on Telegram
TEXTER = "+8613900000073"  # a resident who reports by SMS
FILER = "+8613900000088"  # a resident an Open311 client files for
PHONES = [TEXTER, FILER, MANAGER_PHONE, LIUBO_PHONE, YUANXIANG_NUMBER, JZSJ_SOUTH_NUMBER]
PHONES.append(FROM_NUMBER)  # the number the run texts from

SID = re.compile(r"(?<![A-Za-z0-9])(?:SM|MM|AC|MG|ME)[0-9a-fA-F]{32}(?![0-9a-fA-F])")
LINK = re.compile(r"/console/login/([A-Za-z0-9_-]{16,})")
# A sign-in link whose token is still there: anything after the path but the masks.
UNMASKED_LINK = re.compile(r"/console/login/(?!\*\*\*|…)[^\s\"'<>]")
# A number still dialable: "+" and 8 digits or more, or a bare run of 11 to 15 digits.
WHOLE_NUMBER = re.compile(r"(?:\+|%2[Bb])\d{8,}|(?<![\w*])\d{11,15}(?![\w*])")
MASKED_PHONE = re.compile(r"\+?\d{0,5}\*\*\*\*\d{1,4}")


def forms(phone: str) -> list[str]:
    """The forms a number of ours could show in a line: E.164, URL-encoded, without the "+",
    national (the bare 11-digit mobile), and spaced or dashed as people write it."""
    digits = phone[1:]
    national = digits[2:] if digits.startswith("86") else digits
    return [
        phone,
        f"%2B{digits}",
        digits,
        national,
        f"{national[:3]} {national[3:7]} {national[7:]}",
        f"{national[:3]}-{national[3:7]}-{national[7:]}",
    ]


# ---- the database and the process ----------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database the child process opens by URL (``child_database``)."""
    async with child_database(request.param, tmp_path) as url:
        yield url


@dataclass
class Run:
    """The running process, the emulators it talks to, and its database."""

    process: Process
    telegram: TelegramEmulator
    twilio: TwilioEmulator
    ctx: ServiceContext
    level: str

    @property
    def url(self) -> str:
        return self.process.url

    def log(self) -> str:
        return self.process.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(params=LEVELS)
async def run(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[Run]:
    """``wolaiban run`` with SMS, Telegram (polling), the console and Open311, logging at each
    of ``LEVELS`` to ``run.log``; the example directory with no quiet hours (the test runs on the
    real clock at any hour)."""
    telegram = TelegramEmulator(limits=Limits(private_interval=0.05))
    add_people(telegram, example_directory())
    twilio = TwilioEmulator()
    async with serve_emulators(telegram, twilio) as emulators:
        settings = run_settings(
            database_url,
            emulators,
            port=free_port(),
            directory_file=str(directory_file(tmp_path, quiet_hours=None)),
            console_secret=CONSOLE_SECRET,
            log_level=request.param,
            telegram_chat_interval=0.05,
            sms_per_second=50,
            sweep_seconds=1,
        )
        process = Process(run_env(settings), tmp_path / "run.log")
        process.start()
        db = open_database(database_url)
        try:
            await serving(process, settings.http_port)
            ctx = ServiceContext(channels=BOOK, db=db, default_language="zh")
            yield Run(process, telegram, twilio, ctx, request.param)
        finally:
            process.stop()
            await db.dispose()


async def serving(process: Process, port: int) -> None:
    """Until the run says it serves; its log's tail if it exits first."""
    line = render("zh", "cli.serving", host="127.0.0.1", port=port)

    def up() -> bool:
        assert process.child is not None
        if process.child.poll() is not None:
            raise RuntimeError(f"the run exited ({process.child.returncode}):\n{process.tail()}")
        return line in process.log.read_text(encoding="utf-8", errors="replace")

    await until(up, 60, 0.05)


# ---- what the test waits for and reads -----------------------------------------------------------


async def sms_to(run: Run, phone: str, *needles: str) -> str:
    """The first SMS ``phone`` was sent that holds every one of ``needles``."""

    def found() -> str | None:
        return next(
            (m.body for m in run.twilio.inbox(phone) if all(n in m.body for n in needles)), None
        )

    await until(lambda: found() is not None, SECONDS)
    body = found()
    assert body is not None
    return body


async def outbox_rows(db: Database) -> list[dict[str, Any]]:
    """Every outbox row as an operator's SELECT shows it: template, status, text and params."""
    async with db.reading() as session:
        connection = await session.connection()
        found = await connection.execute(
            text("SELECT id, template, status, text, params FROM outbox ORDER BY id")
        )
        return [dict(row._mapping) for row in found]


async def settled(run: Run) -> None:
    """Nothing in the outbox on its way, and every status callback Twilio owes posted."""

    async def idle() -> bool:
        async with run.ctx.db.reading() as session:
            query = select(OutboxMessage.status).where(
                col(OutboxMessage.status).in_(("pending", "sending"))
            )
            return not (await session.exec(query)).all()

    await eventually(idle, SECONDS, 0.1)
    await run.twilio.settle()


async def early_report(run: Run, phone: str) -> str:
    """Twilio's signed delivery report for a message to ``phone`` the run has no record of
    sending yet (a report can overtake the API's answer): its sid."""
    sid = new_sid("SM")
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": run.twilio.account_sid,
        "From": FROM_NUMBER,
        "To": phone,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "ApiVersion": API_VERSION,
    }
    url = f"{run.url}/twilio/status"
    signature = RequestValidator(run.twilio.auth_token).compute_signature(url, params)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(url, data=params, headers={"X-Twilio-Signature": str(signature)})
    assert answer.status_code == 204, answer.text
    return sid


async def sign_in(run: Run, token: str) -> dict[str, str]:
    """Spend a sign-in link as a browser does (its page, then its form); the cookies it got."""
    async with httpx.AsyncClient(base_url=run.url, timeout=10) as browser:
        page = await browser.get(f"/console/login/{token}")
        assert page.status_code == 200, page.text
        proof = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert proof is not None, page.text
        signed = await browser.post(
            f"/console/login/{token}", data={"csrf": unescape(proof.group(1))}
        )
        assert signed.status_code == 303, signed.text
        cases = await browser.get("/console/cases")
        assert cases.status_code == 200
        return dict(browser.cookies.items())


# ---- the test ------------------------------------------------------------------------------------


async def test_a_runs_log_and_outbox_keep_no_sid_token_link_or_phone(run: Run) -> None:
    # (1) A resident reports by SMS; the manager, reached by SMS, acknowledges with his code.
    reply = await run.twilio.text(
        TEXTER, YUANXIANG_NUMBER, "5号楼电梯坏了，困了一位老人", url=f"{run.url}/twilio/sms"
    )
    assert reply.status_code == 200, reply.body
    assert reply.messages, reply.body
    number = re.search(r"#(\d+)", reply.messages[0])
    assert number is not None, reply.messages
    case = number.group(1)
    await sms_to(run, MANAGER_PHONE, f"#{case}")
    code = await run.twilio.text(
        MANAGER_PHONE, YUANXIANG_NUMBER, f"A{case}", url=f"{run.url}/twilio/sms"
    )
    assert code.status_code == 200, code.body
    await sms_to(run, TEXTER, f"#{case}", "接单")

    # A delivery report that overtakes the record of its send: the run says so at INFO, sid and all.
    early = await early_report(run, TEXTER)

    # (2) A sign-in link texted by the CLI (on the same database), and one asked for on Telegram.
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.cli", "console-link", "liubo", "--sms"],
        env=run.process.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    texted = LINK.search(await sms_to(run, LIUBO_PHONE, "/console/login/"))
    assert texted is not None
    seen = len(run.telegram.inbox(LIUBO))
    await run.telegram.user_says(LIUBO, "/web")
    await until(lambda: any("/console/login/" in m.text for m in run.telegram.inbox(LIUBO)[seen:]))
    asked = next(
        LINK.search(m.text) for m in run.telegram.inbox(LIUBO)[seen:] if LINK.search(m.text)
    )
    assert asked is not None
    tokens = [texted.group(1), asked.group(1)]

    async def links_sent() -> bool:
        rows = await outbox_rows(run.ctx.db)
        links = [r for r in rows if r["template"] in ("web.link", "web.link_sms")]
        return len(links) == 2 and all(r["status"] == "sent" for r in links)

    await eventually(links_sent, SECONDS, 0.1)
    cookies = await sign_in(run, asked.group(1))  # one link spent, over HTTP, with its token

    # (3) An Open311 client files for a resident with a phone, then follows the request.
    key = await keys.create_key(run.ctx, name="city-12345", communities=[])
    async with httpx.AsyncClient(base_url=f"{run.url}/open311/v2", timeout=10) as client:
        posted = await client.post(
            "/requests.json",
            data={
                "api_key": key,
                "service_code": "parcels",
                "jurisdiction_id": "jzsj-south",
                "address_string": "172号楼东门",
                "description": "172号楼东门快递堆放占道，老人轮椅过不去",
                "phone": FILER,
                "first_name": "先生",
                "last_name": "周",
            },
        )
        assert posted.status_code == 200, posted.text
        filed = posted.json()[0]["service_request_id"]
        follow = await client.get(f"/requests/{filed}.json", params={"api_key": key})
        assert follow.status_code == 200, follow.text
    await sms_to(run, FILER, f"#{filed}")

    await settled(run)
    rows = await outbox_rows(run.ctx.db)
    run.process.stop()  # the log is whole: shutdown's lines too
    log = run.log()

    # The log is the run's: its lines are there (what it says of itself at INFO).
    assert log.strip(), "the run wrote no log"
    assert render("zh", "cli.serving", host="127.0.0.1", port=run.process.env["HTTP_PORT"]) in log
    assert re.search(r" INFO wolaiban: directory .* loaded", log), log[-3000:]
    assert "a delivery report for " in log, log[-3000:]

    # What must not be in it: (what it is, the text itself), by value and by shape.
    secrets: list[tuple[str, str]] = []
    # Twilio: no sid of any kind (by value: the 32 hex digits alone), nor the auth token.
    sids = {m.sid for m in (*run.twilio.sent, *run.twilio.received)}
    sids |= {params["MessageSid"] for _, params, _ in run.twilio.callbacks} | {early}
    assert len(sids) >= 6, sids  # the report, its card, the code, the answers, the links
    secrets += [(f"Twilio sid {sid}", sid[2:]) for sid in (run.twilio.account_sid, *sids)]
    secrets.append(("Twilio auth token", run.twilio.auth_token))
    # Telegram's bot token, whole or its secret half; the console's secret.
    secrets.append(("bot token", run.telegram.token))
    secrets.append(("bot token's secret", run.telegram.token.split(":", 1)[1]))
    secrets.append(("console secret", CONSOLE_SECRET))
    # The sign-in links (texted; asked for and spent), the session it started, the key.
    secrets += [(f"sign-in token {token}", token) for token in tokens]
    secrets += [(f"cookie {name}", v) for name, v in cookies.items() if len(v) >= 16]
    secrets.append(("Open311 key", key.removeprefix(keys.PREFIX)))
    # The phone numbers, in every form they come in.
    secrets += [(f"phone {phone}", form) for phone in PHONES for form in forms(phone)]

    leaks: list[tuple[str, str]] = [(what, value) for what, value in secrets if value in log]
    shapes = [
        ("Twilio sid", SID),
        ("sign-in link with its token", UNMASKED_LINK),
        ("whole number", WHOLE_NUMBER),
    ]
    leaks += [(what, m.group(0)) for what, shape in shapes for m in shape.finditer(log)]
    problems = [f"log: {what}: {value!r}" for what, value in dict.fromkeys(leaks)]
    lines = [line for line in log.splitlines() if any(v in line for _, v in leaks)]

    # The outbox, once the links went: each keeps its path but not its token, nor does any row.
    links = [r for r in rows if r["template"] in ("web.link", "web.link_sms")]
    assert [r["status"] for r in links] == ["sent", "sent"], links
    for row in rows:
        stored = f"{row['text']}\n{row['params']}"
        problems += [
            f"outbox row {row['id']} ({row['template']}): sign-in token {token}"
            for token in tokens
            if token in stored
        ]
        problems += [f"outbox row {row['id']}: link {m.group(0)}" for m in LINK.finditer(stored)]
    # What the operator saw of ``console-link --sms``: that it went, not the link.
    problems += [f"console-link's output: {t}" for t in tokens if t in cli.stdout + cli.stderr]

    if problems:
        shown = "\n".join(lines[:40])
        pytest.fail("leaked:\n  " + "\n  ".join(problems) + f"\nin the log's lines:\n{shown}")

    # Masked, not dropped: the lines that carried them show what is left of them — at INFO the
    # early delivery report's sid; at DEBUG also PTB's link it sent and its Bot API URL, and on
    # SQLite aiosqlite's every statement, numbers and sids in them.
    assert "a delivery report for SM*** came before its send was recorded" in log
    for row in links:
        assert "/console/login/…" in row["text"], row
    assert cli.stdout.strip(), cli.stderr
    if run.level == "DEBUG":
        assert "/console/login/***" in log, "no masked link in the log: is it the run's?"
        assert "/bot***" in log, "no masked bot token in the log"
        if "DEBUG aiosqlite" in log:
            assert MASKED_PHONE.search(log), "no masked number in the log"
            assert re.search(r"\bSM\*\*\*", log), "no masked sid in the log"
