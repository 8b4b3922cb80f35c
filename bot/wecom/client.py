"""WeCom's server API over httpx: the shared access token added to each call and renewed once
when WeCom refuses it; any other errcode raised as WeComError. Never logs the secret or token."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

from db.engine import Database

from .tokens import Fetch, TokenStore, instance_name

# WeCom's codes for a token it will not take: invalid, expired, and the credential invalid
# (40001 also answers a token made from a secret since changed).
TOKEN_REFUSED = frozenset({40014, 42001, 40001})
RATE_LIMITED = 45009  # the API's or a member's frequency limit
OUTSIDE_WINDOW = 95001  # customer service: past the 48 hours or the 5 messages
BUSY = -1  # WeCom's "system busy": try again later
# An answer larger than any WeCom gives (sync_msg's 1,000 messages fit well within it).
MAX_ANSWER_BYTES = 8 * 1024 * 1024


class WeComError(Exception):
    """WeCom answered with an errcode other than 0."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeCom error {errcode}: {errmsg[:200]}")
        self.errcode, self.errmsg = errcode, errmsg


def token_key(corp_id: str, secret: str) -> str:
    """The provider_token row of one app's credentials: the corp id and a digest of the secret
    (two apps of one corp have two tokens; a new secret starts a new row; the secret not kept)."""
    digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
    return f"wecom:{corp_id[:64]}:{digest}"


def _answer(response: httpx.Response) -> dict[str, Any]:
    """A WeCom answer's JSON object; an HTTP error (the URL, which holds the token, left out of
    its message) or WeComError(-1) when it is not WeCom's JSON."""
    if response.status_code != 200:
        raise httpx.HTTPStatusError(
            f"WeCom answered HTTP {response.status_code}",
            request=response.request,
            response=response,
        )
    if len(response.content) > MAX_ANSWER_BYTES:
        raise WeComError(BUSY, "answer too large")
    try:
        data = response.json()
    except ValueError:
        raise WeComError(BUSY, "answer not JSON") from None
    if not isinstance(data, dict):
        raise WeComError(BUSY, "answer not a JSON object")
    return data


def _errcode(data: Mapping[str, Any]) -> int:
    """The answer's errcode (0 when absent, as on some of WeCom's successes)."""
    code = data.get("errcode", 0)
    return code if isinstance(code, int) else BUSY


def _raise_unless_ok(data: Mapping[str, Any]) -> None:
    """WeComError unless the answer's errcode is 0."""
    code = _errcode(data)
    if code != 0:
        raise WeComError(code, str(data.get("errmsg", ""))[:500])


def token_fetch(http: httpx.AsyncClient, *, api_url: str, corp_id: str, secret: str) -> Fetch:
    """The call that gets a new access token: ``GET /cgi-bin/gettoken`` → (token, expires_in)."""
    url = f"{api_url.rstrip('/')}/cgi-bin/gettoken"

    async def fetch() -> tuple[str, int]:
        response = await http.get(url, params={"corpid": corp_id, "corpsecret": secret})
        data = _answer(response)
        _raise_unless_ok(data)
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise WeComError(BUSY, "gettoken answered no token")
        return token, expires_in

    return fetch


class WeComClient:
    """One app's calls to WeCom's API (the staff app's, or customer service's)."""

    def __init__(
        self,
        *,
        api_url: str,
        corp_id: str,
        secret: str,
        tokens: TokenStore,
        http: httpx.AsyncClient,
    ) -> None:
        self._api = api_url.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.tokens, self._http = tokens, http

    @classmethod
    def shared(
        cls,
        database: Database,
        *,
        api_url: str,
        corp_id: str,
        secret: str,
        http: httpx.AsyncClient,
        owner: str | None = None,
    ) -> WeComClient:
        """A client whose token lives in ``database`` for every instance (``owner`` names this
        one in the lease: its host and process id unless given)."""
        fetch = token_fetch(http, api_url=api_url, corp_id=corp_id, secret=secret)
        key = token_key(corp_id, secret)
        tokens = TokenStore(database, key, fetch, owner=owner or instance_name())
        return cls(api_url=api_url, corp_id=corp_id, secret=secret, tokens=tokens, http=http)

    async def post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``POST path`` with ``payload`` as JSON; the answer once its errcode is 0."""
        return await self._call("POST", path, payload, {})

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``GET path?params``; the answer once its errcode is 0."""
        return await self._call("GET", path, None, dict(params or {}))

    async def _call(
        self, method: str, path: str, payload: Mapping[str, Any] | None, params: dict[str, str]
    ) -> dict[str, Any]:
        """One call, with the token renewed and the call made again once if WeCom refused it."""
        if not path.startswith("/") or "?" in path or "#" in path:
            raise ValueError("a WeCom API path starts with / and has no query")
        token = await self.tokens.token()
        data = await self._once(method, path, payload, params, token)
        if _errcode(data) in TOKEN_REFUSED:
            token = await self.tokens.renew(token)
            data = await self._once(method, path, payload, params, token)
        _raise_unless_ok(data)
        return data

    async def _once(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None,
        params: dict[str, str],
        token: str,
    ) -> dict[str, Any]:
        """The request with ``token``; its JSON answer, whatever the errcode."""
        response = await self._http.request(
            method,
            self._api + path,
            params={**params, "access_token": token},
            json=dict(payload) if payload is not None else None,
        )
        return _answer(response)
