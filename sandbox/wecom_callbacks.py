"""The WeCom emulator's callbacks to the bot: each message encrypted and signed as WeCom does
(``CallbackCrypto.seal``), posted with msg_signature, timestamp and nonce in the URL; the URL
verification GET; the same callback again; and forgeries of several kinds."""

from __future__ import annotations

import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import httpx

from bot.wecom.crypto import CallbackCrypto
from bot.wecom.wire import message_xml
from sandbox.wecom_state import Posted

_TIMEOUT = 15.0  # seconds the emulator waits unless told WeCom's 5 (``answer_within``)
# One TLS context for every post: making one per client costs ~50 ms (the CA bundle is read).
_TLS = ssl.create_default_context()
Forgery = Literal["signature", "token", "key", "receiver", "tampered", "unsigned"]


def _nonce() -> str:
    return str(secrets.randbelow(10**10))


@dataclass
class Caller:
    """Posts one app's callbacks to ``url`` with that app's keys; keeps every answer."""

    crypto: CallbackCrypto
    url: str = ""
    agent_id: str = ""  # the envelope's AgentID (empty for customer service)
    posted: list[Posted] = field(default_factory=list)
    answer_within: float | None = None  # WeCom's 5 s: set, a slow answer's post is made again
    retries: int = 3  # WeCom tries a callback again up to 3 times

    async def post(self, fields: Mapping[str, str | int]) -> Posted:
        """``fields`` (the inner XML) sealed, signed and posted; the bot's answer."""
        # The URL's timestamp is the real time (the bot checks it against its own clock); the
        # message's CreateTime is WeCom's (the emulator clock) and goes inside.
        timestamp, nonce = str(int(time.time())), _nonce()
        encrypted, signature = self.crypto.seal(message_xml(fields), timestamp, nonce)
        body = self._envelope(encrypted)
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        return await self._send(params, body, dict(fields))

    async def replay(self, posted: Posted) -> Posted:
        """The same callback again, byte for byte (WeCom retries so when no answer came)."""
        return await self._send(dict(posted.params), posted.body, dict(posted.fields))

    async def forged(self, fields: Mapping[str, str | int], how: Forgery) -> Posted:
        """A callback that is not WeCom's, ``how``: a wrong signature, signed with another
        Token, encrypted with another key, for another corp, a flipped ciphertext byte under the
        original signature, or no signature at all."""
        timestamp, nonce = str(int(time.time())), _nonce()
        crypto = self.crypto
        if how == "token":
            crypto = replace(crypto, token=crypto.token + "x")
        elif how == "key":
            crypto = replace(crypto, key=secrets.token_bytes(32))
        elif how == "receiver":
            crypto = replace(crypto, receive_id="ww" + secrets.token_hex(8))
        encrypted, signature = crypto.seal(message_xml(fields), timestamp, nonce)
        if how == "key":  # a forger who knows the Token but not the key signs correctly
            signature = self.crypto.signature(timestamp, nonce, encrypted)
        if how == "receiver":
            signature = self.crypto.signature(timestamp, nonce, encrypted)
        if how == "signature":
            signature = secrets.token_hex(20)
        if how == "tampered":
            flipped = "A" if encrypted[10] != "A" else "B"
            encrypted = encrypted[:10] + flipped + encrypted[11:]
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        if how == "unsigned":
            params = {}
        return await self._send(params, self._envelope(encrypted), dict(fields))

    async def verify(self) -> Posted:
        """WeCom's URL verification: a GET whose echostr the bot must decrypt and answer."""
        timestamp, nonce = str(int(time.time())), _nonce()
        plain = str(secrets.randbelow(10**19))
        echostr, signature = self.crypto.seal(plain.encode(), timestamp, nonce)
        params = {
            "msg_signature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=_TIMEOUT, verify=_TLS) as client:
            answer = await client.get(self.url, params=params)
        elapsed = time.monotonic() - started
        posted = Posted(self.url, params, b"", {}, answer.status_code, answer.text, elapsed, plain)
        self.posted.append(posted)
        return posted

    def _envelope(self, encrypted: str) -> bytes:
        """The outer XML WeCom posts: the receiver, the ciphertext and the app's id."""
        outer: dict[str, str | int] = {"ToUserName": self.crypto.receive_id, "Encrypt": encrypted}
        outer["AgentID"] = self.agent_id
        return message_xml(outer)

    async def _send(
        self, params: dict[str, str], body: bytes, fields: dict[str, str | int]
    ) -> Posted:
        """Post once; with ``answer_within`` set, as WeCom does: a post not answered in time is
        given up (status 0) and made again, ``retries`` times at most."""
        if not self.url:
            raise RuntimeError("the emulator does not know the bot's URL (set bot_url)")
        headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}
        tries = 1 + (self.retries if self.answer_within is not None else 0)
        async with httpx.AsyncClient(timeout=self.answer_within or _TIMEOUT, verify=_TLS) as client:
            for _ in range(tries):
                started = time.monotonic()
                try:
                    answer = await client.post(
                        self.url, params=params, content=body, headers=headers
                    )
                except httpx.TimeoutException:
                    if self.answer_within is None:
                        raise
                    elapsed = time.monotonic() - started
                    self.posted.append(Posted(self.url, params, body, fields, 0, "", elapsed))
                    continue
                elapsed = time.monotonic() - started
                posted = Posted(
                    self.url, params, body, fields, answer.status_code, answer.text, elapsed
                )
                self.posted.append(posted)
                return posted
        return self.posted[-1]
