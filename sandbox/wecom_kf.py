"""The WeCom emulator's customer service (微信客服): the customers' messages queued for
``kf/sync_msg`` (a cursor per account, a callback Token good for 10 minutes), and ``kf/send_msg``
(text, msgmenu) within WeChat's window — 48 hours after the customer's last message, 5 messages."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sandbox.wecom_state import (
    EMPTY_TEXT,
    INVALID_KF,
    INVALID_MSG_TOKEN,
    INVALID_PARAMETER,
    MSG_TOKEN_LIFETIME,
    OUTSIDE_WINDOW,
    TOO_LONG,
    WELCOME_LIFETIME,
    WINDOW,
    WINDOW_MESSAGES,
    Clock,
    KfMessage,
    MenuItem,
    Session,
    SyncCall,
    WeComError,
    new_id,
)

MAX_TEXT_BYTES = 2048
MAX_MENU_ITEMS = 10
MAX_LIMIT = 1000
KEPT_FOR = 3 * 24 * 3600.0  # sync_msg gives the last 3 days' messages
_MSGID = re.compile(r"[0-9A-Za-z_-]{1,32}")


@dataclass
class CustomerService:
    """The customer-service accounts' message streams, sessions and what residents received."""

    clock: Clock
    open_kfids: set[str] = field(default_factory=set)
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    sessions: dict[tuple[str, str], Session] = field(default_factory=lambda: defaultdict(Session))
    inboxes: dict[tuple[str, str], list[KfMessage]] = field(
        default_factory=lambda: defaultdict(list)
    )
    sync_calls: list[SyncCall] = field(default_factory=list)
    refused: list[tuple[str, str, int]] = field(default_factory=list)  # kfid, user, errcode
    msg_tokens: dict[str, float] = field(default_factory=dict)  # Token -> issued at
    welcome_codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    _cursors: dict[str, tuple[str, int]] = field(default_factory=dict)  # cursor -> kfid, index
    _msgids: set[str] = field(default_factory=set)

    # ---- the customers ------------------------------------------------------------------------

    def customer_message(
        self, open_kfid: str, external_userid: str, msgtype: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A message from the customer (origin 3), queued; it opens the reply window anew."""
        message = self._queue(open_kfid, external_userid, 3, msgtype, body)
        session = self.sessions[(open_kfid, external_userid)]
        session.last_customer_at, session.sent_since = self.clock.now(), 0
        return message

    def enter_session(self, open_kfid: str, external_userid: str, scene: str) -> dict[str, Any]:
        """The customer opens the conversation (a system event, origin 4) with a welcome_code."""
        code = new_id("wc", 24)
        self.welcome_codes[code] = (open_kfid, external_userid, self.clock.now())
        event = {
            "event_type": "enter_session",
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "scene": scene,
            "welcome_code": code,
        }
        return self._queue(open_kfid, external_userid, 4, "event", {"event": event})

    def msg_token(self) -> str:
        """A fresh Token for a kf_msg_or_event callback (sync_msg takes it for 10 minutes)."""
        token = new_id("ENC", 24)
        self.msg_tokens[token] = self.clock.now()
        return token

    def _queue(
        self, open_kfid: str, external_userid: str, origin: int, msgtype: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self.open_kfids.add(open_kfid)
        message = {
            "msgid": new_id("", 24),
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "send_time": int(self.clock.now()),
            "origin": origin,
            "msgtype": msgtype,
            **body,
        }
        self.streams[open_kfid].append(message)
        return message

    # ---- kf/sync_msg --------------------------------------------------------------------------

    def sync(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``kf/sync_msg``: the account's messages after ``cursor``, ``limit`` at most."""
        open_kfid, cursor = str(payload.get("open_kfid") or ""), str(payload.get("cursor") or "")
        token = str(payload.get("token") or "")
        limit = payload.get("limit", MAX_LIMIT)
        try:
            if open_kfid not in self.open_kfids:
                raise WeComError(INVALID_KF)
            if token and self.clock.now() - self.msg_tokens.get(token, -1e12) > MSG_TOKEN_LIFETIME:
                raise WeComError(INVALID_MSG_TOKEN)
            if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
                raise WeComError(INVALID_PARAMETER, f"limit is 1 to {MAX_LIMIT}")
            start = self._position(open_kfid, cursor)
        except WeComError as error:
            self.sync_calls.append(SyncCall(open_kfid, cursor, token, 0, (), "", error.errcode))
            raise
        stream = self.streams[open_kfid]
        oldest = self.clock.now() - KEPT_FOR
        end = min(start + limit, len(stream))
        given = [m for m in stream[start:end] if m["send_time"] >= oldest]
        next_cursor = new_id("", 12)
        self._cursors[next_cursor] = (open_kfid, end)
        msgids = tuple(m["msgid"] for m in given)
        self.sync_calls.append(SyncCall(open_kfid, cursor, token, limit, msgids, next_cursor))
        return {
            "errcode": 0,
            "errmsg": "ok",
            "next_cursor": next_cursor,
            "has_more": int(end < len(stream)),
            "msg_list": given,
        }

    def _position(self, open_kfid: str, cursor: str) -> int:
        if not cursor:
            return 0
        found = self._cursors.get(cursor)
        if found is None or found[0] != open_kfid:
            raise WeComError(INVALID_PARAMETER, "invalid cursor")
        return found[1]

    # ---- kf/send_msg, kf/send_msg_on_event ---------------------------------------------------

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``kf/send_msg``: a text or menu to a customer, inside the window only."""
        open_kfid, user = str(payload.get("open_kfid") or ""), str(payload.get("touser") or "")
        if open_kfid not in self.open_kfids:
            raise WeComError(INVALID_KF)
        message = self._message_of(payload, open_kfid, user)
        session = self.sessions[(open_kfid, user)]
        last = session.last_customer_at
        if (
            last is None
            or self.clock.now() - last > WINDOW
            or session.sent_since >= WINDOW_MESSAGES
        ):
            self.refused.append((open_kfid, user, OUTSIDE_WINDOW))
            raise WeComError(OUTSIDE_WINDOW)
        session.sent_since += 1
        self._deliver(message)
        return {"errcode": 0, "errmsg": "ok", "msgid": message.msgid}

    def send_on_event(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``kf/send_msg_on_event``: the welcome, with an enter_session's code (once, 20 s)."""
        found = self.welcome_codes.pop(str(payload.get("code") or ""), None)
        if found is None or self.clock.now() - found[2] > WELCOME_LIFETIME:
            raise WeComError(INVALID_PARAMETER, "invalid or expired code")
        message = self._message_of(payload, found[0], found[1])
        message.on_event = True
        self._deliver(message)
        return {"errcode": 0, "errmsg": "ok", "msgid": message.msgid}

    def _deliver(self, message: KfMessage) -> None:
        self._msgids.add(message.msgid)
        self.inboxes[(message.open_kfid, message.external_userid)].append(message)

    def _message_of(self, payload: dict[str, Any], open_kfid: str, user: str) -> KfMessage:
        """The message a send asks for, checked as WeCom checks it."""
        if not user:
            raise WeComError(INVALID_PARAMETER, "touser required")
        msgid = str(payload.get("msgid") or "") or new_id("", 24)
        if not _MSGID.fullmatch(msgid) or msgid in self._msgids:
            raise WeComError(INVALID_PARAMETER, "msgid malformed or used before")
        msgtype, now = payload.get("msgtype"), self.clock.now()
        if msgtype == "text":
            raw = payload.get("text")
            content = str(raw.get("content") or "") if isinstance(raw, dict) else ""
            _check_text(content)
            return KfMessage(msgid, open_kfid, user, "text", content, now)
        if msgtype == "msgmenu":
            raw = payload.get("msgmenu")
            if not isinstance(raw, dict):
                raise WeComError(INVALID_PARAMETER, "msgmenu required")
            head, tail = str(raw.get("head_content") or ""), str(raw.get("tail_content") or "")
            items = _items_of(raw.get("list"))
            words = "\n".join([head, *(item.content for item in items), tail]).strip()
            _check_text(words)
            return KfMessage(msgid, open_kfid, user, "msgmenu", words, now, head, items, tail)
        raise WeComError(INVALID_PARAMETER, f"msgtype {str(msgtype)[:32]!r} not emulated")


def _check_text(content: str) -> None:
    if not content:
        raise WeComError(EMPTY_TEXT)
    if len(content.encode()) > MAX_TEXT_BYTES:
        raise WeComError(TOO_LONG, f"text over {MAX_TEXT_BYTES} bytes")


def _items_of(raw: object) -> list[MenuItem]:
    if not isinstance(raw, list) or len(raw) > MAX_MENU_ITEMS:
        raise WeComError(INVALID_PARAMETER, f"a menu has at most {MAX_MENU_ITEMS} items")
    items = []
    for entry in raw:
        click = entry.get("click") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or entry.get("type") != "click"
            or not isinstance(click, dict)
        ):
            raise WeComError(INVALID_PARAMETER, "only click items are emulated")
        item_id, content = str(click.get("id") or ""), str(click.get("content") or "")
        if not content or len(item_id.encode()) > 128 or len(content.encode()) > 128:
            raise WeComError(INVALID_PARAMETER, "a click item needs content; id, content ≤ 128 B")
        items.append(MenuItem(item_id, content))
    if len({item.id for item in items if item.id}) != len([i for i in items if i.id]):
        raise WeComError(INVALID_PARAMETER, "menu item ids repeat")
    return items
