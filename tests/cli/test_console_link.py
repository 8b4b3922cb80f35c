"""``wolaiban console-link PERSON_ID [--sms]`` (docs/reference.md §1, §9): a one-time sign-in
link."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlmodel import select

from bot.services.staff import signin
from db.engine import open_database
from db.models import ConsoleLogin, OutboxMessage

from .conftest import Cli

SECRET = "cli-console-secret-0123456789abcdef"
LINK = re.compile(r"^https://wolaiban\.example\.org/console/login/([A-Za-z0-9_-]{20,})$")


def _rows(cli: Cli) -> tuple[list[ConsoleLogin], list[OutboxMessage]]:
    async def read() -> tuple[list[ConsoleLogin], list[OutboxMessage]]:
        db = open_database(cli.url)
        try:
            async with db.reading() as session:
                logins = list((await session.exec(select(ConsoleLogin))).all())
                sent = list((await session.exec(select(OutboxMessage))).all())
                return logins, sent
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_a_link_is_printed_and_only_its_hash_kept(
    loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    monkeypatch.setenv("PUBLIC_URL", "https://wolaiban.example.org/")
    done = loaded_cli("console-link", "liubo")
    assert done.code == 0, done.err
    header, link = done.out.strip().splitlines()
    assert header.startswith("刘博 的工作台登录链接")
    found = LINK.match(link)
    assert found, link
    logins, _ = _rows(loaded_cli)
    assert [row.token_hash for row in logins] == [signin.digest(found.group(1))]
    assert found.group(1) not in repr(logins)


def test_residents_unknown_people_and_a_console_that_is_off(
    loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    off = loaded_cli("console-link", "liubo")
    assert off.code == 2
    assert off.err.strip() == "wolaiban: CONSOLE_SECRET：未设置，工作台未开启"
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    resident = loaded_cli("console-link", "r-jzsj-172")
    assert resident.code == 1
    assert "只对社区工作人员" in resident.err
    nobody = loaded_cli("console-link", "nobody")
    assert (nobody.code, nobody.err.strip()) == (1, "没有找到人员 nobody。")
    assert _rows(loaded_cli) == ([], [])


def test_sms_queues_the_link_to_the_phone(loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_SECRET", SECRET)
    no_sms = loaded_cli("console-link", "liubo", "--sms")
    assert no_sms.code == 1  # SMS is off: nothing to send it with
    for name, value in (
        ("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
        ("TWILIO_AUTH_TOKEN", "a-real-looking-auth-token"),
        ("TWILIO_FROM_NUMBER", "+8610690000099"),
    ):
        monkeypatch.setenv(name, value)
    done = loaded_cli("console-link", "liubo", "--sms")
    assert done.code == 0, done.err
    assert "刘博" in done.out
    _, sent = _rows(loaded_cli)
    texts = [m for m in sent if m.template == "web.link_sms"]
    assert [(m.channel, m.address) for m in texts] == [("sms", "+8613800000001")]
    assert "/console/login/" in texts[0].text
