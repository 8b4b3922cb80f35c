"""Sending outbox messages to WeCom members through the app: texts and cards (``message/send``),
and a pressed card's update (``message/update_template_card``) — or, when WeCom refuses the
press's code (used, or older than 72 hours), a fresh card. WeCom's answers become outcomes."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent, Transient
from bot.wecom.client import BUSY, RATE_LIMITED, TOKEN_REFUSED, WeComClient, WeComError

from .cards import Text, parts_of, task_id, update_payload

log = logging.getLogger(__name__)
SEND, UPDATE = "/cgi-bin/message/send", "/cgi-bin/message/update_template_card"
# A member's userid: letters, digits and "_-@.", starting with a letter or digit (so never
# "@all", which would reach every member, nor a "|" that would name two).
USERID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# Who is not (or no longer) a member the app may write to: all receivers invalid, an invalid
# userid, a userid not found.
GONE = frozenset({81013, 40003, 60111})
# WeCom names no wait after a 45009: its limits count a member's messages a minute (and an
# hour), so a member it refused waits a minute (the adapter passes its pacing's shortest span).
FLOOD_WAIT = 60.0
# Codes after which the same call may work later: a card's update is tried again, not replaced.
AGAIN = frozenset({BUSY, RATE_LIMITED, *TOKEN_REFUSED})
# A pressed card's update, as the press left it on the outbox row (its one-time code, the
# card's task id, and the label its buttons give way to).
Pressed = Callable[[int], Awaitable[Mapping[str, Any]]]


class WeComAppSender:
    """The WeCom app's way out, paced per member."""

    def __init__(
        self,
        client: WeComClient,
        *,
        agent_id: int,
        pressed: Pressed,
        flood_wait: float = FLOOD_WAIT,
    ) -> None:
        self._client, self._agent, self._pressed = client, agent_id, pressed
        self._flood_wait = flood_wait
        # How many parts of a message went out before a flood or failure stopped it (a retry
        # goes on from there, so a member does not get the first part twice). A memory only.
        self._done: dict[int, int] = {}

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """One scope per member (WeCom counts each member's messages)."""
        return f"wecom:{message.address}", False

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """Send, or update a pressed card; WeCom's refusals become outcomes, never exceptions.
        (WeCom has no silent message: ``silent`` changes nothing.)"""
        if not USERID.fullmatch(message.address):
            return Permanent("not a WeCom userid", unreachable=True)
        try:
            if message.edit_message_id is not None:
                return Delivered(await self._update(message))
            return Delivered(await self._new(message))
        except WeComError as error:
            return _outcome(error, self._flood_wait)
        except httpx.HTTPError as error:  # the network, a timeout, an HTTP error status
            return Transient(type(error).__name__)

    async def _new(self, message: Claimed) -> str:
        """Every part of a new message in order (from the first one not sent yet); the id of
        its first card (the task the card's presses name), else of its last text."""
        parts = parts_of(message.text, message.buttons)
        first_card: str | None = None
        provider = ""
        for index, part in enumerate(parts):
            if index < self._done.get(message.id, 0):
                continue
            payload: dict[str, Any] = {"touser": message.address, "agentid": self._agent}
            if isinstance(part, Text):
                payload |= {"msgtype": "text", "text": {"content": part.content}}
            else:
                task = task_id(message.id)
                payload |= {"msgtype": "template_card", "template_card": part.payload(task)}
                first_card = first_card or task
            answer = await self._client.post(SEND, payload)
            _check_receiver(answer, message.address)
            provider = str(answer.get("msgid", ""))[:64]
            self._remember(message.id, index + 1)
        self._done.pop(message.id, None)
        return first_card or provider

    async def _update(self, message: Claimed) -> str:
        """The pressed card updated with the press's code; when WeCom refuses the code (used,
        or past its 72 hours), a card with buttons comes afresh and a mere label is let go."""
        pressed = await self._pressed(message.id)
        code, task = pressed.get("code"), pressed.get("task")
        flat = [b for row in message.buttons for b in row]
        if isinstance(code, str) and code and isinstance(task, str) and task:
            body = update_payload(
                userid=message.address,
                agent_id=self._agent,
                code=code,
                task=task,
                text=message.text if flat else str(pressed.get("label") or ""),
                buttons=flat,
            )
            try:
                await self._client.post(UPDATE, body)
                return task
            except WeComError as error:
                if error.errcode in AGAIN:
                    raise
                log.info("a card's update was refused (%s): sent afresh", error.errcode)
        return await self._new(message) if flat else ""

    def _remember(self, message_id: int, count: int) -> None:
        if len(self._done) > 10_000:
            self._done.clear()
        self._done[message_id] = count


def _check_receiver(answer: Mapping[str, Any], userid: str) -> None:
    """WeComError(81013) when WeCom took the call but names the member as an invalid receiver
    (it lists them lower-cased: its userids know no case)."""
    invalid = str(answer.get("invaliduser") or "")
    if userid.lower() in {u.strip().lower() for u in invalid.split("|")}:
        raise WeComError(81013, "invaliduser")


def _outcome(error: WeComError, flood_wait: float) -> Outcome:
    """What a WeCom error means for the message."""
    if error.errcode == RATE_LIMITED:
        return Flooded(flood_wait)
    if error.errcode in GONE:
        return Permanent(str(error), unreachable=True)
    if error.errcode in AGAIN:
        return Transient(str(error))
    return Permanent(str(error))
