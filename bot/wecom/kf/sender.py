"""Outbox messages to residents through customer service's ``kf/send_msg``, inside WeChat's reply
window only: a send past it is not attempted (nor is one WeCom refuses with 95001) — the message
goes by the resident's next channel, or waits until they write again (``UntilTheyWrite``). The
welcome a resident's first visit brings goes with the visit's one-time code instead."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx

from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from bot.delivery.results import UntilTheyWrite
from bot.services.unit.context import ServiceContext
from bot.services.unit.reach import WINDOW_CLOSED
from bot.wecom.client import (
    BUSY,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    TOKEN_REFUSED,
    WeComClient,
    WeComError,
)

from . import window
from .menus import Payload, payloads

SEND = "/cgi-bin/kf/send_msg"
SEND_ON_EVENT = "/cgi-bin/kf/send_msg_on_event"
WELCOME_SECONDS = 18.0  # WeCom takes a welcome code for 20 s; a little is kept for the way
FLOOD_PAUSE = 2.0
CLOSED = f"{WINDOW_CLOSED}: 48 hours since the resident last wrote, or 5 messages sent since"

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Welcomes:
    """The one-time codes of residents' visits (``enter_session``), for the welcome: kept in
    memory for their 20 seconds (a code seen by another instance is not ours to use)."""

    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    def offer(self, external_userid: str, open_kfid: str, code: str) -> None:
        """A visit's code, usable for one message."""
        now = time.monotonic()
        self.codes = {k: v for k, v in self.codes.items() if v[2] > now}  # the stale ones go
        self.codes[external_userid] = (open_kfid, code, now + WELCOME_SECONDS)

    def take(self, external_userid: str) -> tuple[str, str] | None:
        """The account and code for one message to this resident, if a fresh one is here."""
        found = self.codes.pop(external_userid, None)
        if found is None or found[2] <= time.monotonic():
            return None
        return found[0], found[1]


class KfSender:
    """The way out to residents on WeChat."""

    def __init__(self, ctx: ServiceContext, client: WeComClient, welcomes: Welcomes) -> None:
        self._ctx, self._client, self._welcomes = ctx, client, welcomes

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """Paced per resident."""
        return f"{window.CHANNEL}:{message.address}", False

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Send one outbox message (one or more of WeCom's); never raises for WeCom's refusal."""
        sends = payloads(message.text, message.buttons)
        if not sends:
            return Permanent("nothing to send: no text and no buttons")
        user = message.address
        open_kfid = await window.reserve(self._ctx, user, len(sends))
        if open_kfid is None:
            welcome = self._welcomes.take(user) if len(sends) == 1 else None
            if welcome is not None:
                return await self._welcome(welcome, sends[0])
            return UntilTheyWrite(CLOSED)
        for done, payload in enumerate(sends):
            body = {"touser": user, "open_kfid": open_kfid, **payload}
            try:
                answer = await self._client.post(SEND, body)
            except (WeComError, httpx.HTTPError, OSError) as error:
                await window.give_back(self._ctx, open_kfid, user, len(sends) - done)
                return await self._failed(error, open_kfid, user)
        return Delivered(str(answer.get("msgid") or "")[:64])

    async def _welcome(self, welcome: tuple[str, str], payload: Payload) -> Outcome:
        """The visit's welcome, sent with its code (once, within 20 s of the visit)."""
        code = welcome[1]
        try:
            answer = await self._client.post(SEND_ON_EVENT, {"code": code, **payload})
        except (WeComError, httpx.HTTPError, OSError) as error:
            log.info("a welcome could not go with its code: %s", _described(error))
            return UntilTheyWrite(CLOSED)  # the code is spent or stale: it waits for them
        return Delivered(str(answer.get("msgid") or "")[:64])

    async def _failed(
        self, error: WeComError | httpx.HTTPError | OSError, open_kfid: str, user: str
    ) -> Outcome:
        """WeCom's refusal, or the network's failure, as an outcome."""
        described = _described(error)
        if not isinstance(error, WeComError):
            return Transient(described)
        if error.errcode == OUTSIDE_WINDOW:
            await window.close(self._ctx, open_kfid, user)
            return UntilTheyWrite(f"{CLOSED} ({described})")
        if error.errcode == RATE_LIMITED:
            return Flooded(FLOOD_PAUSE)
        if error.errcode == BUSY or error.errcode in TOKEN_REFUSED:
            return Transient(described)
        return Permanent(described)


def _described(error: Exception) -> str:
    """An error in a line, without a URL (it would hold the access token)."""
    if isinstance(error, WeComError):
        return f"WeCom error {error.errcode}: {error.errmsg[:200]}"
    return type(error).__name__
