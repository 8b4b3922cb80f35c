"""A loopback WeCom (企业微信) and WeChat customer service (微信客服), from their documentation.

Serves ``/cgi-bin/gettoken``, ``message/send``, ``message/update_template_card``, ``kf/sync_msg``,
``kf/send_msg``, ``kf/send_msg_on_event`` and ``media/get`` with WeCom's JSON answers and errors
(``sandbox/wecom_state.py`` lists the codes): a token per app that expires (``expires_in``, the
emulator clock moved by ``advance``), a member's pace, a card's response_code once within 72 h,
customer service's 48-hour window of 5 messages. It also plays the people: members write and
press card buttons, residents write, click menu items and send pictures — each as an encrypted,
signed callback posted to the bot (``bot_url`` + ``/wecom/callback`` or ``/wechat-kf/callback``)
— and ``inbox``/``kf_inbox`` read what each received. Nothing sleeps: time is the emulator's.

The answers a bot must tell apart: 40014/42001 (renew the token), 45009 (back off), 81013 with
``invaliduser`` (not a member), 42022 (a card's response_code used or past 72 h: send a new
card; 40058 for one never issued), 95001 (outside customer service's window), 95007 (a
sync_msg Token past its 10 minutes: pull without it), -1 (busy: try again).
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.wecom.crypto import CallbackCrypto
from sandbox.wecom_app import StaffApp
from sandbox.wecom_callbacks import Caller, Forgery
from sandbox.wecom_kf import CustomerService
from sandbox.wecom_people import People
from sandbox.wecom_state import (
    EXPIRED_TOKEN,
    FLOODED,
    INVALID_CORP,
    INVALID_PARAMETER,
    INVALID_SECRET,
    INVALID_TOKEN,
    MISSING_TOKEN,
    NO_PERMISSION,
    AppMessage,
    Clock,
    KfMessage,
    Posted,
    SyncCall,
    WeComError,
    new_id,
)

APP, KF = "app", "kf"
MAX_BODY = 512 * 1024


def _aes_key() -> str:
    """A random EncodingAESKey as WeCom makes them: 43 letters and digits (base64 of 32 bytes)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(43))


@dataclass
class Token:
    """An access token: which app it is for and when it expires (emulator time)."""

    value: str
    app: str
    expires_at: float


@dataclass
class WeComEmulator(People):
    """The emulator's state; ``app`` is the Starlette app to serve."""

    corp_id: str = "ww0123456789abcdef"
    agent_id: int = 1000002
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    aes_key: str = field(default_factory=_aes_key)
    kf_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    kf_token: str = field(default_factory=lambda: secrets.token_hex(8))
    kf_aes_key: str = field(default_factory=_aes_key)
    open_kfid: str = "wk0123456789abcdef"  # the customer-service account (more: add_kf_account)
    expires_in: int = 7200  # an access token's life (seconds of emulator time)
    bot_url: str = ""  # where the bot is served: callbacks go to its /wecom/… paths
    answer_within: float | None = None  # 5.0: a callback unanswered by then is posted again
    clock: Clock = field(default_factory=Clock)
    token_fetches: dict[str, int] = field(default_factory=lambda: {APP: 0, KF: 0})
    calls: list[tuple[str, int]] = field(default_factory=list)  # (path, errcode) of each call
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media_id -> body, type
    _tokens: dict[str, Token] = field(default_factory=dict)
    _forced: list[tuple[str, int]] = field(default_factory=list)  # (path prefix, errcode)
    _outages: list[int] = field(default_factory=list)  # HTTP statuses of the next calls

    def __post_init__(self) -> None:
        self.staff = StaffApp(self.agent_id, self.clock)
        self.service = CustomerService(self.clock, open_kfids={self.open_kfid})
        # path -> (the app whose token it takes, what answers it)
        self._routes: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
            "message/send": (APP, self.staff.send),
            "message/update_template_card": (APP, self.staff.update),
            "kf/sync_msg": (KF, self.service.sync),
            "kf/send_msg": (KF, self.service.send),
            "kf/send_msg_on_event": (KF, self.service.send_on_event),
        }
        app_crypto = CallbackCrypto.of(self.token, self.aes_key, self.corp_id)
        kf_crypto = CallbackCrypto.of(self.kf_token, self.kf_aes_key, self.corp_id)
        self.posted: list[Posted] = []  # every callback to the bot, both apps, oldest first
        self.app_caller = Caller(app_crypto, agent_id=str(self.agent_id), posted=self.posted)
        self.kf_caller = Caller(kf_crypto, posted=self.posted)

    @property
    def app(self) -> Starlette:
        """The ASGI app answering ``/cgi-bin/…``."""
        return Starlette(
            routes=[
                Route("/cgi-bin/gettoken", self._gettoken, methods=["GET"]),
                Route("/cgi-bin/media/get", self._media, methods=["GET"]),
                Route("/cgi-bin/{path:path}", self._endpoint, methods=["POST"]),
            ]
        )

    # ---- scripting: time, limits, failures -----------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move WeCom's clock forward (tokens, paces, codes and windows all age)."""
        self.clock.advance(seconds)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (the next call with one gets 42001)."""
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, self.clock.now())

    def revoke_tokens(self) -> None:
        """WeCom withdraws every token before its time, as its docs warn it may (40014 then)."""
        self._tokens.clear()

    def flood_next(self, n: int = 1, path: str = "message/send") -> None:
        """The next ``n`` calls to ``path`` get 45009, whatever the pace."""
        self.fail_next(FLOODED, n, path)

    def fail_next(self, errcode: int, n: int = 1, path: str = "") -> None:
        """The next ``n`` calls whose path starts with ``path`` get ``errcode`` (-1: busy)."""
        self._forced += [(path, errcode)] * n

    def outage_next(self, n: int = 1, status: int = 503) -> None:
        """The next ``n`` API calls get HTTP ``status`` and no JSON (WeCom unreachable)."""
        self._outages += [status] * n

    # ---- reading ------------------------------------------------------------------------------

    @property
    def members(self) -> set[str]:
        """The corp's members (userids) the app can reach; add to it."""
        return self.staff.members

    def add_member(self, userid: str) -> None:
        """Make ``userid`` a member of the corp, in the app's visible range."""
        self.staff.members.add(userid)

    def add_kf_account(self, open_kfid: str) -> None:
        """Another customer-service account of the corp."""
        self.service.open_kfids.add(open_kfid)

    def inbox(self, userid: str) -> list[AppMessage]:
        """What the app sent ``userid``, oldest first (cards with their updates applied)."""
        return list(self.staff.inboxes.get(userid, []))

    def last(self, userid: str) -> AppMessage:
        """The newest message the app sent ``userid``."""
        return self.staff.inboxes[userid][-1]

    def kf_inbox(self, open_kfid: str, external_userid: str) -> list[KfMessage]:
        """What customer service sent a resident, oldest first."""
        return list(self.service.inboxes.get((open_kfid, external_userid), []))

    @property
    def sync_calls(self) -> list[SyncCall]:
        """Every kf/sync_msg call: its cursor, Token and the msgids it gave."""
        return self.service.sync_calls

    @property
    def callbacks(self) -> list[Posted]:
        """Every callback posted to the bot (both apps), oldest first."""
        return list(self.posted)

    def crypto(self, which: str = APP) -> CallbackCrypto:
        """The callback keys of ``which`` app ("app" or "kf"), as the bot has them."""
        return (self.app_caller if which == APP else self.kf_caller).crypto

    # ---- the API ------------------------------------------------------------------------------

    async def _gettoken(self, request: Request) -> Response:
        query = request.query_params
        try:
            if query.get("corpid") != self.corp_id:
                raise WeComError(INVALID_CORP)
            secret = query.get("corpsecret", "")
            apps = {self.secret: APP, self.kf_secret: KF}
            if secret not in apps:
                raise WeComError(INVALID_SECRET)
            token = self._token_for(apps[secret])
        except WeComError as error:
            self.calls.append(("gettoken", error.errcode))
            return error.answer()
        self.calls.append(("gettoken", 0))
        remaining = max(1, round(token.expires_at - self.clock.now()))
        return JSONResponse(
            {"errcode": 0, "errmsg": "ok", "access_token": token.value, "expires_in": remaining}
        )

    def _token_for(self, app: str) -> Token:
        """The app's token: the same while it lasts, a new one after (as WeCom's docs say)."""
        now = self.clock.now()
        for token in self._tokens.values():
            if token.app == app and token.expires_at > now:
                return token
        self.token_fetches[app] += 1
        token = Token(new_id("at", 48), app, now + self.expires_in)
        self._tokens[token.value] = token
        return token

    def _authorize(self, request: Request, app: str | None) -> None:
        """WeCom's token checks; ``app``: whose token the API takes (None: either app's)."""
        value = request.query_params.get("access_token", "")
        if not value:
            raise WeComError(MISSING_TOKEN)
        token = self._tokens.get(value)
        if token is None:
            raise WeComError(INVALID_TOKEN)
        if token.expires_at <= self.clock.now():
            raise WeComError(EXPIRED_TOKEN)
        if app is not None and token.app != app:
            raise WeComError(NO_PERMISSION, "the other app's access_token")

    async def _endpoint(self, request: Request) -> Response:
        path = request.path_params["path"]
        if self._outages:
            self.calls.append((path, self._outages[0]))
            return Response("<html>bad gateway</html>", status_code=self._outages.pop(0))
        try:
            if path not in self._routes:
                raise WeComError(INVALID_PARAMETER, f"/cgi-bin/{path[:64]} not emulated")
            app, handler = self._routes[path]
            self._authorize(request, app)
            forced = next((f for f in self._forced if path.startswith(f[0])), None)
            if forced is not None:
                self._forced.remove(forced)
                raise WeComError(forced[1], "forced by the test")
            payload = await _json(request)
            answer = handler(payload)
        except WeComError as error:
            self.calls.append((path, error.errcode))
            return error.answer()
        self.calls.append((path, 0))
        return JSONResponse(answer)

    async def _media(self, request: Request) -> Response:
        """``media/get``: a picture a resident sent, by its media_id."""
        try:
            self._authorize(request, None)
            found = self.media.get(request.query_params.get("media_id", ""))
            if found is None:
                raise WeComError(40007, "invalid media_id")
        except WeComError as error:
            return error.answer()
        return Response(found[0], media_type=found[1])

    # ---- what People needs --------------------------------------------------------------------

    def _callers(self) -> tuple[Caller, Caller]:
        base = self.bot_url.rstrip("/")
        self.app_caller.url = f"{base}/wecom/callback" if base else ""
        self.kf_caller.url = f"{base}/wechat-kf/callback" if base else ""
        self.app_caller.answer_within = self.kf_caller.answer_within = self.answer_within
        return self.app_caller, self.kf_caller

    async def forged(
        self,
        which: str = APP,
        how: Forgery = "signature",
        fields: dict[str, str | int] | None = None,
    ) -> Posted:
        """A callback to ``which`` app ("app" or "kf") that is not WeCom's (see Caller.forged)."""
        app_caller, kf_caller = self._callers()
        caller = app_caller if which == APP else kf_caller
        return await caller.forged(fields or self._forgery_fields(which), how)

    async def verify_url(self, which: str = APP) -> Posted:
        """WeCom's URL verification GET to ``which`` app's callback; ``expected`` is its echo."""
        app_caller, kf_caller = self._callers()
        return await (app_caller if which == APP else kf_caller).verify()


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WeComError(INVALID_PARAMETER, "request too large")
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise WeComError(47001, "data format error") from None
    if not isinstance(payload, dict):
        raise WeComError(47001, "data format error")
    return payload
