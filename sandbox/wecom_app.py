"""The WeCom emulator's staff app: ``message/send`` (text, button_interaction cards) and
``message/update_template_card``, with WeCom's rules — members only, a member's 30 messages a
minute and 1,000 an hour, a task_id once per app, a response_code once and within 72 hours."""

from __future__ import annotations

import copy
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.wecom_state import (
    CODE_LIFETIME,
    CODE_USED,
    EMPTY_TEXT,
    FLOODED,
    HOUR,
    INVALID_AGENT,
    INVALID_PARAMETER,
    MINUTE,
    NO_RECEIVER,
    TOO_LONG,
    AppMessage,
    Button,
    Card,
    Clock,
    WeComError,
    new_id,
)

MAX_TEXT_BYTES = 2048
MAX_BUTTONS = 6
_TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")


@dataclass
class Code:
    """A response_code WeCom issued: for which card (task) and members, when, and if used."""

    task_id: str
    userids: tuple[str, ...]
    issued_at: float
    used: bool = False


@dataclass
class StaffApp:
    """The self-built app's messages and cards, and the limits WeCom applies to them."""

    agent_id: int
    clock: Clock
    per_minute: int = 30
    per_hour: int = 1000
    code_lifetime: float = CODE_LIFETIME  # shorten it to make every card update come too late
    members: set[str] = field(default_factory=set)
    inboxes: dict[str, list[AppMessage]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Code] = field(default_factory=dict)
    task_ids: set[str] = field(default_factory=set)
    flooded: int = 0  # how many sends were refused with 45009
    updates_refused: list[tuple[str, int]] = field(default_factory=list)  # (code, errcode)
    _sent_at: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    # ---- message/send -----------------------------------------------------------------------

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``message/send``: a text or a button_interaction card to the members in ``touser``."""
        self._check_agent(payload)
        msgtype = payload.get("msgtype")
        if msgtype == "text":
            content = _text_of(payload.get("text"))
            card = None
        elif msgtype == "template_card":
            card = self._card_of(payload.get("template_card"))
            content = card.text()
        else:
            raise WeComError(INVALID_PARAMETER, f"msgtype {str(msgtype)[:32]!r} not emulated")
        wanted = [u for u in str(payload.get("touser") or "").split("|") if u]
        if wanted == ["@all"]:  # every member the app can see: a bot should never mean that
            wanted = sorted(self.members)
        valid = [u for u in dict.fromkeys(wanted) if u in self.members]
        invalid = "|".join(u for u in wanted if u not in self.members)
        if not valid:
            raise WeComError(NO_RECEIVER, invaliduser=invalid)
        now = self.clock.now()
        if any(self._over_pace(userid, now) for userid in valid):
            self.flooded += 1
            raise WeComError(FLOODED, "a member's message limit")
        msgid = new_id("msg", 24)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}
        for userid in valid:
            self._sent_at[userid].append(now)
            mine = copy.deepcopy(card)
            self.inboxes[userid].append(AppMessage(msgid, userid, msgtype, content, now, mine))
        if card is not None:
            self.task_ids.add(card.task_id)
            code = new_id("rc", 32)
            self.codes[code] = Code(card.task_id, tuple(valid), now)
            answer["response_code"] = code
        answer["msgid"] = msgid
        return answer

    def _check_agent(self, payload: dict[str, Any]) -> None:
        try:
            agent = int(payload.get("agentid"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            agent = None
        if agent != self.agent_id:
            raise WeComError(INVALID_AGENT)

    def _over_pace(self, userid: str, now: float) -> bool:
        """Whether one more message to ``userid`` now breaks WeCom's per-member limits."""
        sent = self._sent_at[userid]
        while sent and now - sent[0] >= HOUR:
            sent.popleft()
        last_minute = sum(1 for at in sent if now - at < MINUTE)
        return last_minute >= self.per_minute or len(sent) >= self.per_hour

    def _card_of(self, raw: object) -> Card:
        """A button_interaction card from its JSON, checked as WeCom checks it."""
        if not isinstance(raw, dict) or raw.get("card_type") != "button_interaction":
            raise WeComError(INVALID_PARAMETER, "only button_interaction cards are emulated")
        task_id = str(raw.get("task_id") or "")
        if not _TASK_ID.fullmatch(task_id):
            raise WeComError(INVALID_PARAMETER, "task_id missing or malformed")
        if task_id in self.task_ids:
            raise WeComError(INVALID_PARAMETER, "task_id used before in this app")
        main = raw.get("main_title")
        main = main if isinstance(main, dict) else {}
        title, desc = str(main.get("title") or ""), str(main.get("desc") or "")
        sub_title = str(raw.get("sub_title_text") or "")
        if not title and not sub_title:
            raise WeComError(INVALID_PARAMETER, "main_title.title or sub_title_text required")
        return Card(task_id, title, desc, sub_title, _buttons_of(raw.get("button_list")), raw)

    # ---- message/update_template_card ---------------------------------------------------------

    def update(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``message/update_template_card``: the buttons replaced by a label, or the whole card."""
        self._check_agent(payload)
        value = str(payload.get("response_code") or "")
        code = self.codes.get(value)
        if code is None:
            self.updates_refused.append((value, INVALID_PARAMETER))
            raise WeComError(INVALID_PARAMETER, "invalid response_code")
        if code.used or self.clock.now() - code.issued_at >= self.code_lifetime:
            self.updates_refused.append((value, CODE_USED))
            raise WeComError(CODE_USED)
        button, whole = payload.get("button"), payload.get("template_card")
        if isinstance(button, dict) and str(button.get("replace_name") or ""):
            change: dict[str, Any] = {"replace_name": str(button["replace_name"])}
        elif isinstance(whole, dict):
            replaced = self._replacement(whole, code.task_id)
            change = {"template_card": replaced}
        else:
            raise WeComError(INVALID_PARAMETER, "button.replace_name or template_card required")
        targets, invalid = self._targets(payload, code)
        code.used = True
        for card in self._cards(code.task_id, targets):
            _apply(card, change)
        return {"errcode": 0, "errmsg": "ok", "invaliduser": invalid}

    def _targets(self, payload: dict[str, Any], code: Code) -> tuple[list[str], list[str]]:
        """Whose cards an update changes: ``userids`` (or everyone, ``atall``) among those the
        code was issued for; the rest named are answered as invaliduser."""
        if payload.get("atall") == 1:
            return list(code.userids), []
        userids = payload.get("userids")
        if not isinstance(userids, list) or not userids:
            raise WeComError(INVALID_PARAMETER, "userids or atall required")
        named = [str(u) for u in userids]
        return [u for u in named if u in code.userids], [u for u in named if u not in code.userids]

    def _replacement(self, raw: dict[str, Any], task_id: str) -> Card:
        """A whole new card for ``task_id`` (WeCom keeps the task; the rest is the new card's)."""
        self.task_ids.discard(task_id)  # the same task may be named again in its replacement
        try:
            card = self._card_of({**raw, "task_id": raw.get("task_id") or task_id})
        finally:
            self.task_ids.add(task_id)
        return card

    def _cards(self, task_id: str, userids: list[str]) -> list[Card]:
        found = []
        for userid in userids:
            for message in self.inboxes.get(userid, []):
                if message.card is not None and message.card.task_id == task_id:
                    found.append(message.card)
        return found

    # ---- presses ------------------------------------------------------------------------------

    def press_code(self, userid: str, card: Card) -> str:
        """A fresh response_code for ``userid``'s press on ``card`` (the event carries it)."""
        code = new_id("rc", 32)
        self.codes[code] = Code(card.task_id, (userid,), self.clock.now())
        return code


def _text_of(raw: object) -> str:
    content = str(raw.get("content") or "") if isinstance(raw, dict) else ""
    if not content:
        raise WeComError(EMPTY_TEXT)
    if len(content.encode()) > MAX_TEXT_BYTES:
        raise WeComError(TOO_LONG, f"text over {MAX_TEXT_BYTES} bytes")
    return content


def _buttons_of(raw: object) -> list[Button]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BUTTONS:
        raise WeComError(INVALID_PARAMETER, f"button_list needs 1 to {MAX_BUTTONS} buttons")
    buttons = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("text") or not item.get("key"):
            raise WeComError(INVALID_PARAMETER, "a button needs text and key")
        key = str(item["key"])
        if len(key.encode()) > 1024:
            raise WeComError(INVALID_PARAMETER, "button key over 1024 bytes")
        style = item.get("style", 1)
        if not isinstance(style, int) or not 1 <= style <= 4:
            raise WeComError(INVALID_PARAMETER, "button style is 1 to 4")
        buttons.append(Button(str(item["text"]), key, style))
    if len({b.key for b in buttons}) != len(buttons):
        raise WeComError(INVALID_PARAMETER, "button keys repeat")
    return buttons


def _apply(card: Card, change: dict[str, Any]) -> None:
    """One update on a member's card, kept in its history."""
    replaced = change.get("template_card")
    if isinstance(replaced, Card):
        card.title, card.desc, card.sub_title = replaced.title, replaced.desc, replaced.sub_title
        card.buttons, card.source, card.replace_name = replaced.buttons, replaced.source, None
        card.updates.append({"template_card": replaced.source})
    else:
        card.replace_name = str(change["replace_name"])
        card.updates.append(dict(change))
