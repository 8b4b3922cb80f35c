"""``wolaiban invite PERSON_ID`` (docs/reference.md §1, §6) against a tiny Bot API served on
loopback."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .conftest import SHANGHAI, Cli

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
ME = {"id": 1, "is_bot": True, "first_name": "Wolaiban", "username": "wolaiban_test_bot"}
LINK = re.compile(r"^https://t\.me/wolaiban_test_bot\?start=([A-Za-z0-9_-]{1,64})$")


class FakeBotApi:
    """``POST /bot<token>/getMe`` answered as Telegram would, on a free loopback port."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        app = Starlette(routes=[Route("/bot{token}/getMe", self._get_me, methods=["POST"])])
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]})

    async def _get_me(self, request: Request) -> JSONResponse:
        self.paths.append(request.url.path)
        return JSONResponse({"ok": True, "result": ME})

    def __enter__(self) -> FakeBotApi:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the fake Bot API did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def bot_api(loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    """The fake Bot API, with TELEGRAM_BOT_TOKEN and TELEGRAM_API_URL pointing at it."""
    with FakeBotApi() as api:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_URL", api.url)
        yield api


def _hashed(code: str) -> str:
    """A code as the invite table keeps it: its sha256, in hex."""
    return hashlib.sha256(code.encode()).hexdigest()


def _invites(cli: Cli) -> dict[str, tuple[str, datetime, datetime, object]]:
    """The invite table: the code's hash -> (person, created, expires, used)."""
    rows = cli.tables()["invite"]  # the hash came last, in migration 0014
    return {
        code_hash: (person, _aware(created), _aware(expires), used)
        for person, created, expires, used, code_hash in rows
    }


def _aware(value: object) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives text without an offset)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def test_invite_prints_a_deep_link_stored_for_seven_days(
    loaded_cli: Cli, bot_api: FakeBotApi
) -> None:
    started = datetime.now(UTC)
    done = loaded_cli("invite", "mgr-jzsj-south")
    assert done.code == 0, done.err
    header, link = done.out.strip().splitlines()
    assert "王经理（mgr-jzsj-south）" in header
    found = LINK.match(link)
    assert found, link
    code = found.group(1)
    # the bot's username was asked of the Bot API, with the token in the path
    assert bot_api.paths == [f"/bot{TOKEN}/getMe"]

    invites = _invites(loaded_cli)
    assert list(invites) == [_hashed(code)]  # only the code's hash is kept
    person, created, expires, used = invites[_hashed(code)]
    assert (person, used) == ("mgr-jzsj-south", None)
    assert started - timedelta(seconds=1) <= created <= datetime.now(UTC)
    assert expires - created == timedelta(days=7)
    local_expiry = expires.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert local_expiry in header  # the header tells until when, in Beijing time


def test_each_invite_is_a_new_code(loaded_cli: Cli, bot_api: FakeBotApi) -> None:
    codes = []
    for _ in range(2):
        done = loaded_cli("invite", "r-bgy-72")
        assert done.code == 0, done.err
        found = LINK.match(done.out.strip().splitlines()[-1])
        assert found
        codes.append(found.group(1))
    assert codes[0] != codes[1]
    assert sorted(_invites(loaded_cli)) == sorted(_hashed(c) for c in codes)


def test_an_unknown_person_gets_no_invite(loaded_cli: Cli, bot_api: FakeBotApi) -> None:
    done = loaded_cli("invite", "nobody")
    assert done.code == 1
    assert done.out == ""
    assert done.err_lines == ["没有找到人员 nobody。"]
    assert _invites(loaded_cli) == {}


def test_invite_needs_the_bot_token(loaded_cli: Cli) -> None:
    done = loaded_cli("invite", "mgr-jzsj-south")
    assert done.code == 2
    assert done.out == ""
    assert len(done.err_lines) == 1
    assert done.err_lines[0].startswith("wolaiban: TELEGRAM_BOT_TOKEN")
    assert _invites(loaded_cli) == {}


def test_invite_when_the_bot_api_is_unreachable(
    loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", f"http://127.0.0.1:{port}")
    done = loaded_cli("invite", "mgr-jzsj-south")
    assert done.code == 2
    assert len(done.err_lines) == 1
    assert done.err_lines[0].startswith("wolaiban: TELEGRAM_API_URL")
    assert TOKEN not in done.err  # the secret is never printed
    assert _invites(loaded_cli) == {}


def test_with_wecom_alone_the_invite_is_a_code_for_the_app(
    loaded_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No Telegram bot: the invite is the code a member sends the WeCom app (no Bot API asked).
    for name, value in {
        "WECOM_CORP_ID": "ww0123456789abcdef",
        "WECOM_AGENT_ID": "1000002",
        "WECOM_SECRET": "app-secret-for-the-test",
        "WECOM_TOKEN": "callbacktoken",
        "WECOM_AES_KEY": "a" * 43,
    }.items():
        monkeypatch.setenv(name, value)
    done = loaded_cli("invite", "mgr-jzsj-south")
    assert done.code == 0, done.err
    lines = done.out.strip().splitlines()
    assert "王经理（mgr-jzsj-south）" in lines[0]
    assert "企业微信" in lines[1]
    assert "t.me" not in done.out
    code = lines[-1]
    assert list(_invites(loaded_cli)) == [_hashed(code)]
