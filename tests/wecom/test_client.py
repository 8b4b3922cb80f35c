"""The WeCom client against a tiny loopback WeCom: the token added to every call, renewed and the
call made again once when WeCom says it expired, WeCom's other errors raised with their code, and
no token or secret in what an error says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.wecom.client import WeComClient, WeComError, token_key
from db.engine import Database
from sandbox.harness import migrated_sqlite
from sandbox.serve import free_port, serving

CORP_ID, SECRET = "ww-loopback", "s3cret-not-to-be-seen"


@dataclass
class LoopbackWeCom:
    """gettoken and message/send as WeCom answers them; ``answers`` queues errcodes for sends."""

    issued: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    answers: list[int] = field(default_factory=list)  # errcodes the next sends answer
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    broken: bool = False  # answer HTTP 502, as a proxy in front of WeCom might

    async def gettoken(self, request: Request) -> Response:
        if request.query_params.get("corpid") != CORP_ID:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid corpid"})
        if request.query_params.get("corpsecret") != SECRET:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        self.issued.append(f"tok{len(self.issued) + 1}-{'x' * 40}")
        return JSONResponse(
            {"errcode": 0, "errmsg": "ok", "access_token": self.issued[-1], "expires_in": 7200}
        )

    async def send(self, request: Request) -> Response:
        if self.broken:
            return Response("bad gateway", status_code=502)
        token = request.query_params.get("access_token", "")
        if token in self.expired:
            return JSONResponse({"errcode": 42001, "errmsg": "access_token expired"})
        if token not in self.issued:
            return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})
        if self.answers:
            code = self.answers.pop(0)
            return JSONResponse({"errcode": code, "errmsg": f"error {code}"})
        self.received.append((token, await request.json()))
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": f"m{len(self.received)}"})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/gettoken", self.gettoken),
                Route("/cgi-bin/message/send", self.send, methods=["POST"]),
            ]
        )


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = await migrated_sqlite(tmp_path / "wolaiban.db")
    yield database
    await database.dispose()


@pytest.fixture
async def wecom() -> AsyncIterator[tuple[LoopbackWeCom, str]]:
    emulator = LoopbackWeCom()
    async with serving(emulator.app()) as url:
        yield emulator, url


def _client(
    database: Database, url: str, http: httpx.AsyncClient, secret: str = SECRET
) -> WeComClient:
    return WeComClient.shared(
        database, api_url=url, corp_id=CORP_ID, secret=secret, http=http, owner="test"
    )


MESSAGE = {"touser": "zhangsan", "agentid": 1000002, "msgtype": "text", "text": {"content": "你好"}}


async def test_an_expired_token_is_renewed_and_the_message_sent_once(
    database: Database, wecom: tuple[LoopbackWeCom, str]
) -> None:
    emulator, url = wecom
    async with httpx.AsyncClient() as http:
        client = _client(database, url, http)
        assert (await client.post("/cgi-bin/message/send", MESSAGE))["msgid"] == "m1"
        emulator.expired.add(emulator.issued[0])
        answer = await client.post("/cgi-bin/message/send", MESSAGE)
    assert answer["msgid"] == "m2"
    assert len(emulator.issued) == 2
    assert [token for token, _ in emulator.received] == emulator.issued
    assert emulator.received[1][1] == MESSAGE


async def test_a_token_refused_again_after_renewal_is_an_error_not_a_loop(
    database: Database, wecom: tuple[LoopbackWeCom, str]
) -> None:
    emulator, url = wecom
    emulator.answers = [40014, 40014, 40014]
    async with httpx.AsyncClient() as http:
        with pytest.raises(WeComError) as refused:
            await _client(database, url, http).post("/cgi-bin/message/send", MESSAGE)
    assert refused.value.errcode == 40014
    assert len(emulator.issued) == 2  # one renewal
    assert emulator.answers == [40014]  # two tries, not three


async def test_wecom_errors_carry_their_code_and_no_secret_or_token(
    database: Database, wecom: tuple[LoopbackWeCom, str]
) -> None:
    emulator, url = wecom
    emulator.answers = [45009, 95001]
    async with httpx.AsyncClient() as http:
        client = _client(database, url, http)
        codes = []
        for _ in range(2):
            with pytest.raises(WeComError) as error:
                await client.post("/cgi-bin/message/send", MESSAGE)
            codes.append(error.value.errcode)
        assert codes == [45009, 95001]
        assert len(emulator.issued) == 1  # a rate limit is not the token's fault
        emulator.broken = True
        with pytest.raises(httpx.HTTPStatusError) as status:
            await client.post("/cgi-bin/message/send", MESSAGE)
        assert emulator.issued[0] not in str(status.value)
        with pytest.raises(WeComError) as wrong_secret:
            await _client(database, url, http, secret="another").post(
                "/cgi-bin/message/send", MESSAGE
            )
    assert wrong_secret.value.errcode == 40001
    assert "another" not in str(wrong_secret.value)
    assert SECRET not in str(wrong_secret.value)
    # The token row is named by a digest, never by the secret itself.
    assert SECRET not in token_key(CORP_ID, SECRET)


async def test_an_unreachable_wecom_raises_the_network_error(database: Database) -> None:
    async with httpx.AsyncClient() as http:
        client = _client(database, f"http://127.0.0.1:{free_port()}", http)
        with pytest.raises(httpx.ConnectError):
            await client.post("/cgi-bin/message/send", MESSAGE)
