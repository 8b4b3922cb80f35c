"""The WeCom emulator: its tokens, paces, cards, customer-service window and callbacks, against a
plain HTTP client and a tiny bot that opens callbacks with the product's crypto and wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from bot.wecom.crypto import CallbackCrypto, CallbackError
from bot.wecom.wire import open_callback, verify_route_answer
from sandbox.harness import Emulators, run_settings, sqlite_url
from sandbox.serve import serving
from sandbox.telegram import TelegramEmulator
from sandbox.wecom import WeComEmulator
from sandbox.wecom_callbacks import Forgery
from sandbox.wecom_state import HOUR, WeComError

MEMBER, OTHER = "zhangwei", "lina"
KF = "wk0123456789abcdef"
RESIDENT = "wmAbCdEf0123456789"


@dataclass
class Bot:
    """A tiny bot: opens each callback with the product's wire and crypto, or answers 403."""

    app_crypto: CallbackCrypto
    kf_crypto: CallbackCrypto
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # seconds before each next answer

    def _crypto(self, request: Request) -> CallbackCrypto:
        return self.app_crypto if request.url.path.endswith("/wecom/callback") else self.kf_crypto

    async def _callback(self, request: Request) -> Response:
        if request.method == "GET":
            return verify_route_answer(request, self._crypto(request))
        try:
            fields = await open_callback(request, self._crypto(request), 64 * 1024)
        except CallbackError:
            return Response(status_code=403)
        self.seen.append((request.url.path.removeprefix("/bot"), fields))
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        return PlainTextResponse("success")

    @property
    def app(self) -> Starlette:
        """``/wecom/callback`` and ``/wechat-kf/callback``, GET and POST."""
        methods = ["GET", "POST"]
        return Starlette(
            routes=[
                Route("/wecom/callback", self._callback, methods=methods),
                Route("/wechat-kf/callback", self._callback, methods=methods),
            ]
        )


@dataclass
class Api:
    """A plain client of the emulator's API, with each app's token."""

    http: httpx.AsyncClient
    emulator: WeComEmulator
    tokens: dict[str, str] = field(default_factory=dict)  # secret -> access token

    async def token(self, secret: str | None = None, corp: str | None = None) -> dict[str, Any]:
        params = {"corpid": corp or self.emulator.corp_id, "corpsecret": secret or ""}
        answer = await self.http.get("/cgi-bin/gettoken", params=params)
        return dict(answer.json())

    async def call(self, path: str, payload: dict[str, Any], token: str = "") -> dict[str, Any]:
        if token:
            return await self._post(path, payload, token)
        secret = self.emulator.kf_secret if path.startswith("kf/") else self.emulator.secret
        for _ in range(2):  # a cached token, renewed once when refused (as the client does)
            if secret not in self.tokens:
                self.tokens[secret] = (await self.token(secret))["access_token"]
            answer = await self._post(path, payload, self.tokens[secret])
            if answer["errcode"] not in (40014, 42001):
                break
            del self.tokens[secret]
        return answer

    async def _post(self, path: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        params = {"access_token": token}
        answer = await self.http.post(f"/cgi-bin/{path}", params=params, json=payload)
        return dict(answer.json())

    async def text(self, to: str, content: str = "您好") -> dict[str, Any]:
        payload = {"touser": to, "agentid": self.emulator.agent_id, "msgtype": "text"}
        return await self.call("message/send", {**payload, "text": {"content": content}})

    async def card(self, to: str, task_id: str) -> dict[str, Any]:
        card = {
            "card_type": "button_interaction",
            "main_title": {"title": "快递柜坏了", "desc": "案件 7"},
            "task_id": task_id,
            "button_list": [
                {"text": "受理", "style": 1, "key": "ack:7"},
                {"text": "解决", "style": 2, "key": "resolve:7"},
            ],
        }
        payload = {"touser": to, "agentid": self.emulator.agent_id, "msgtype": "template_card"}
        return await self.call("message/send", {**payload, "template_card": card})

    async def update(self, code: str, label: str = "已受理") -> dict[str, Any]:
        payload = {
            "userids": [MEMBER],
            "agentid": self.emulator.agent_id,
            "response_code": code,
            "button": {"replace_name": label},
        }
        return await self.call("message/update_template_card", payload)

    async def sync(self, cursor: str = "", token: str = "", limit: int = 1000) -> dict[str, Any]:
        payload = {"cursor": cursor, "token": token, "limit": limit, "open_kfid": KF}
        return await self.call("kf/sync_msg", payload)

    async def kf_text(self, content: str = "收到") -> dict[str, Any]:
        payload = {"touser": RESIDENT, "open_kfid": KF, "msgtype": "text"}
        return await self.call("kf/send_msg", {**payload, "text": {"content": content}})


@asynccontextmanager
async def running(emulator: WeComEmulator | None = None) -> AsyncIterator[tuple[Api, Bot]]:
    """The emulator and a bot served on loopback (one server: the bot under /bot), the emulator
    posting to the bot."""
    emulator = emulator or WeComEmulator()
    emulator.add_member(MEMBER)
    bot = Bot(emulator.crypto("app"), emulator.crypto("kf"))
    both = Starlette(routes=[Mount("/bot", app=bot.app), Mount("/", app=emulator.app)])
    async with serving(both) as api:
        emulator.bot_url = f"{api}/bot"
        async with httpx.AsyncClient(base_url=api) as http:
            yield Api(http, emulator), bot


# ---- access tokens ------------------------------------------------------------------------------


async def test_tokens_last_expires_in_then_42001_and_a_new_one() -> None:
    emulator = WeComEmulator(expires_in=600)
    async with running(emulator) as (api, _):
        wrong_corp = await api.token(emulator.secret, corp="wwnotthecorp")
        wrong_secret = await api.token("not-the-secret")
        first = await api.token(emulator.secret)
        again = await api.token(emulator.secret)
        kf = await api.token(emulator.kf_secret)
        ok = await api.text(MEMBER)
        emulator.advance(600)
        expired = await api.call("message/send", {}, token=first["access_token"])
        renewed = await api.token(emulator.secret)
        unknown = await api.call("message/send", {}, token="not-a-token")
        kf_again = await api.token(emulator.kf_secret)
        other_app = await api.call("message/send", {}, token=kf_again["access_token"])
        missing = (await api.http.post("/cgi-bin/message/send", json={})).json()
        emulator.revoke_tokens()
        revoked = await api.call("message/send", {}, token=renewed["access_token"])
    assert (wrong_corp["errcode"], wrong_secret["errcode"]) == (40013, 40001)
    assert first["errcode"] == 0
    assert first["expires_in"] == 600
    assert again["access_token"] == first["access_token"]  # the same while it lasts
    assert kf["access_token"] != first["access_token"]
    assert ok["errcode"] == 0
    assert expired["errcode"] == 42001
    assert renewed["access_token"] != first["access_token"]
    assert (unknown["errcode"], other_app["errcode"], missing["errcode"]) == (40014, 48002, 41001)
    assert revoked["errcode"] == 40014
    assert emulator.token_fetches == {"app": 2, "kf": 2}


# ---- the staff app ------------------------------------------------------------------------------


async def test_text_reaches_members_only() -> None:
    async with running() as (api, _):
        sent = await api.text(f"{MEMBER}|stranger", "案件 7 已受理")
        nobody = await api.text("stranger")
        wrong_agent = await api.call(
            "message/send", {"touser": MEMBER, "agentid": 1, "msgtype": "text", "text": {}}
        )
        empty = await api.text(MEMBER, "")
        long = await api.text(MEMBER, "长" * 683)  # 2,049 bytes
        api.emulator.add_member(OTHER)
        everyone = await api.text("@all", "全体")  # what a bot must never send by mistake
    assert (sent["errcode"], sent["invaliduser"]) == (0, "stranger")
    assert (nobody["errcode"], nobody["invaliduser"]) == (81013, "stranger")
    assert (wrong_agent["errcode"], empty["errcode"], long["errcode"]) == (40056, 44004, 45002)
    message, _ = api.emulator.inbox(MEMBER)
    assert (message.kind, message.text, message.msgid) == ("text", "案件 7 已受理", sent["msgid"])
    assert everyone["errcode"] == 0
    assert [m.text for m in api.emulator.inbox(OTHER)] == ["全体"]


async def test_a_member_gets_30_a_minute_then_45009() -> None:
    async with running() as (api, _):
        answers = [(await api.text(MEMBER, f"第 {i} 条"))["errcode"] for i in range(31)]
        api.emulator.add_member(OTHER)
        other = await api.text(OTHER)
        api.emulator.advance(60)
        later = await api.text(MEMBER)
    assert answers == [0] * 30 + [45009]
    assert other["errcode"] == 0  # the limit is per member
    assert later["errcode"] == 0
    assert len(api.emulator.inbox(MEMBER)) == 31
    assert api.emulator.staff.flooded == 1


def test_a_member_gets_1000_an_hour() -> None:
    emulator = WeComEmulator()
    emulator.add_member(MEMBER)
    payload = {"touser": MEMBER, "agentid": emulator.agent_id, "msgtype": "text"}
    payload["text"] = {"content": "您好"}
    for _ in range(33):  # 990 messages, 30 a minute
        for _ in range(30):
            emulator.staff.send(payload)
        emulator.advance(60)
    for _ in range(10):
        emulator.staff.send(payload)
    emulator.advance(60)
    with pytest.raises(WeComError) as raised:  # the 1,001st within the hour
        emulator.staff.send(payload)
    assert raised.value.errcode == 45009
    emulator.advance(HOUR - 34 * 60 + 1)  # the first minute's 30 are an hour old now
    assert emulator.staff.send(payload)["errcode"] == 0


async def test_flood_next_forces_45009() -> None:
    async with running() as (api, _):
        api.emulator.flood_next(2)
        answers = [(await api.text(MEMBER))["errcode"] for _ in range(3)]
        api.emulator.fail_next(-1)
        busy = await api.text(MEMBER)
        api.emulator.outage_next()
        token = (await api.token(api.emulator.secret))["access_token"]
        down = await api.http.post("/cgi-bin/message/send", params={"access_token": token})
    assert answers == [45009, 45009, 0]
    assert busy["errcode"] == -1
    assert down.status_code == 503


async def test_a_card_is_updated_once_with_its_code_within_72_hours() -> None:
    async with running() as (api, _):
        sent = await api.card(MEMBER, "case7-1")
        again = await api.card(MEMBER, "case7-1")
        first = await api.update(sent["response_code"])
        twice = await api.update(sent["response_code"])
        fresh = await api.card(MEMBER, "case7-2")
        api.emulator.advance(72 * HOUR)
        late = await api.update(fresh["response_code"])
        unknown = await api.update("never-issued")
    assert (sent["errcode"], again["errcode"]) == (0, 40058)  # a task_id once per app
    assert (first["errcode"], twice["errcode"], late["errcode"]) == (0, 42022, 42022)
    assert unknown["errcode"] == 40058
    cards = [m.card for m in api.emulator.inbox(MEMBER)]
    assert cards[0] is not None
    assert cards[1] is not None
    assert cards[0].replace_name == "已受理"
    assert cards[0].pressable() == []
    assert cards[1].replace_name is None
    assert cards[1].pressable() == ["ack:7", "resolve:7"]
    assert "快递柜坏了" in cards[0].text()


async def test_a_press_posts_the_event_with_a_code_for_one_update() -> None:
    async with running() as (api, bot):
        await api.card(MEMBER, "case7-3")
        message = api.emulator.last(MEMBER)
        posted = await api.emulator.member_presses(MEMBER, message, "ack:7")
        [(path, event)] = bot.seen
        updated = await api.update(event["ResponseCode"])
        with pytest.raises(ValueError, match="no button"):  # they gave way to the label
            await api.emulator.member_presses(MEMBER, message, "resolve:7")
    assert (posted.status_code, posted.text, path) == (200, "success", "/wecom/callback")
    assert event["Event"] == "template_card_event"
    assert event["MsgType"] == "event"
    assert (event["EventKey"], event["TaskId"], event["FromUserName"]) == (
        "ack:7",
        "case7-3",
        MEMBER,
    )
    assert event["CardType"] == "button_interaction"
    assert event["AgentID"] == str(api.emulator.agent_id)
    assert updated["errcode"] == 0
    assert message.card is not None
    assert message.card.replace_name == "已受理"


# ---- customer service ---------------------------------------------------------------------------


async def test_sync_msg_gives_each_message_once_by_cursor() -> None:
    async with running() as (api, bot):
        await api.emulator.resident_says(KF, RESIDENT, "快递柜坏了")
        [(path, signal)] = bot.seen
        first = await api.sync(token=signal["Token"])
        nothing = await api.sync(cursor=first["next_cursor"], token=signal["Token"])
        for word in ("一", "二", "三"):
            api.emulator.queue_text(KF, RESIDENT, word)
        page = await api.sync(cursor=nothing["next_cursor"], limit=2)
        rest = await api.sync(cursor=page["next_cursor"])
        api.emulator.advance(600.5)
        stale = await api.sync(cursor=rest["next_cursor"], token=signal["Token"])
        forged = await api.sync(token="forged-token")
    assert path == "/wechat-kf/callback"
    assert (signal["Event"], signal["OpenKfId"]) == ("kf_msg_or_event", KF)
    [message] = first["msg_list"]
    assert (message["origin"], message["msgtype"], message["external_userid"]) == (
        3,
        "text",
        RESIDENT,
    )
    assert message["text"] == {"content": "快递柜坏了"}
    assert message["open_kfid"] == KF
    assert (nothing["msg_list"], nothing["has_more"]) == ([], 0)
    assert [m["text"]["content"] for m in page["msg_list"]] == ["一", "二"]
    assert page["has_more"] == 1
    assert [m["text"]["content"] for m in rest["msg_list"]] == ["三"]
    assert rest["has_more"] == 0
    assert (stale["errcode"], forged["errcode"]) == (95007, 95007)
    calls = api.emulator.sync_calls
    given = [msgid for call in calls for msgid in call.msgids]
    assert len(given) == len(set(given)) == 4
    assert calls[1].cursor == first["next_cursor"]
    assert calls[0].token == signal["Token"]


async def test_replies_within_48_hours_and_5_messages() -> None:
    async with running() as (api, _):
        before = await api.kf_text()
        await api.emulator.resident_says(KF, RESIDENT, "你好")
        five = [(await api.kf_text(f"第 {i} 条"))["errcode"] for i in range(6)]
        await api.emulator.resident_says(KF, RESIDENT, "还在吗")
        reopened = await api.kf_text()
        api.emulator.advance(48 * HOUR + 1)
        closed = await api.kf_text()
        other_kf = await api.call(
            "kf/send_msg",
            {"touser": RESIDENT, "open_kfid": "wknotours", "msgtype": "text", "text": {}},
        )
    assert before["errcode"] == 95001  # the resident never wrote
    assert five == [0, 0, 0, 0, 0, 95001]
    assert reopened["errcode"] == 0
    assert closed["errcode"] == 95001
    assert other_kf["errcode"] == 95004
    assert len(api.emulator.kf_inbox(KF, RESIDENT)) == 6


async def test_a_menu_click_is_a_text_with_its_menu_id() -> None:
    async with running() as (api, bot):
        await api.emulator.resident_says(KF, RESIDENT, "我要报修")
        menu = {
            "head_content": "问题在哪里？",
            "list": [
                {"type": "click", "click": {"id": "r:1", "content": "快递柜"}},
                {"type": "click", "click": {"id": "r:2", "content": "电梯"}},
            ],
            "tail_content": "请选择",
        }
        payload = {"touser": RESIDENT, "open_kfid": KF, "msgtype": "msgmenu", "msgmenu": menu}
        sent = await api.call("kf/send_msg", payload)
        await api.emulator.resident_clicks(KF, RESIDENT, "r:2")
        with pytest.raises(ValueError, match="no menu"):
            await api.emulator.resident_clicks(KF, RESIDENT, "r:9")
        synced = await api.sync(token=bot.seen[-1][1]["Token"])
    assert sent["errcode"] == 0
    [received] = api.emulator.kf_inbox(KF, RESIDENT)
    assert (received.kind, received.head, received.tail) == ("msgmenu", "问题在哪里？", "请选择")
    assert received.item_ids() == ["r:1", "r:2"]
    click = synced["msg_list"][-1]
    assert click["text"] == {"content": "电梯", "menu_id": "r:2"}


async def test_enter_session_welcome_and_pictures() -> None:
    async with running() as (api, bot):
        await api.emulator.resident_enters(KF, RESIDENT, scene="qr")
        await api.emulator.resident_sends_image(KF, RESIDENT, b"jpeg bytes")
        [enter, image] = (await api.sync(token=bot.seen[-1][1]["Token"]))["msg_list"]
        welcome = {"code": enter["event"]["welcome_code"], "msgtype": "text"}
        first = await api.call("kf/send_msg_on_event", {**welcome, "text": {"content": "欢迎"}})
        twice = await api.call("kf/send_msg_on_event", {**welcome, "text": {"content": "欢迎"}})
        token = (await api.token(api.emulator.kf_secret))["access_token"]
        params = {"access_token": token, "media_id": image["image"]["media_id"]}
        picture = await api.http.get("/cgi-bin/media/get", params=params)
    assert (enter["origin"], enter["event"]["event_type"]) == (4, "enter_session")
    assert (first["errcode"], twice["errcode"]) == (0, 40058)
    assert picture.content == b"jpeg bytes"
    [message] = api.emulator.kf_inbox(KF, RESIDENT)
    assert message.on_event
    assert message.text == "欢迎"


# ---- callbacks ----------------------------------------------------------------------------------


async def test_callbacks_open_with_the_products_crypto_and_replay_byte_for_byte() -> None:
    async with running() as (api, bot):
        said = await api.emulator.member_says(MEMBER, "/cases")
        again = await api.emulator.replay_last()
        verified = await api.emulator.verify_url("app")
        kf_verified = await api.emulator.verify_url("kf")
    [(_, first), (_, second)] = bot.seen
    assert first == second
    assert said.body == again.body
    assert said.params == again.params
    assert (first["MsgType"], first["Content"], first["FromUserName"]) == ("text", "/cases", MEMBER)
    assert first["ToUserName"] == api.emulator.corp_id
    assert first["MsgId"].isdigit()
    assert said.elapsed < 5
    assert (verified.status_code, verified.text) == (200, verified.expected)
    assert (kf_verified.status_code, kf_verified.text) == (200, kf_verified.expected)
    envelope = said.body.decode()
    assert "<Encrypt>" in envelope
    assert "/cases" not in envelope


async def test_a_callback_not_answered_in_time_is_posted_again() -> None:
    emulator = WeComEmulator(answer_within=0.3)
    async with running(emulator) as (api, bot):
        bot.delays = [0.6]
        posted = await api.emulator.member_says(MEMBER, "你好")
    statuses = [p.status_code for p in emulator.callbacks]
    # The first post is given up; a later one (on a loaded machine, maybe not the second) is
    # answered. Each was the same bytes, and the bot got every one.
    assert statuses[0] == 0
    assert statuses[-1] == posted.status_code == 200
    assert {p.body for p in emulator.callbacks} == {posted.body}
    assert [fields["Content"] for _, fields in bot.seen] == ["你好"] * len(statuses)


async def test_forged_callbacks_are_refused() -> None:
    hows: list[Forgery] = ["signature", "token", "key", "receiver", "tampered", "unsigned"]
    async with running() as (api, bot):
        answers = [
            (await api.emulator.forged(which, how)).status_code
            for how in hows
            for which in ("app", "kf")
        ]
    assert answers == [403] * 12
    assert bot.seen == []


def test_run_settings_point_both_apps_at_the_emulator(tmp_path: Path) -> None:
    wecom = WeComEmulator()
    emulators = Emulators(
        TelegramEmulator(), "http://127.0.0.1:1", wecom=wecom, wecom_url="http://127.0.0.1:2"
    )
    settings = run_settings(sqlite_url(tmp_path / "db.sqlite"), emulators)
    assert settings.wecom_enabled
    assert settings.wechat_kf_enabled
    assert settings.wecom_api_url == "http://127.0.0.1:2"
    assert settings.wecom_agent_id == wecom.agent_id
    assert wecom.bot_url == settings.public_url
    assert settings.http_port
