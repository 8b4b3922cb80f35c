"""What the WeCom emulator keeps and shows: its clock, WeCom's error codes, the messages people
received (cards with their buttons and updates, customer-service menus) and the callbacks posted."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

# WeCom's global error codes (the emulator's and the bot's shared reading of WeCom's docs).
INVALID_SECRET = 40001  # 不合法的secret参数
INVALID_CORP = 40013  # 不合法的CorpID
INVALID_TOKEN = 40014  # 不合法的access_token
INVALID_AGENT = 40056  # 不合法的agentid
INVALID_PARAMETER = 40058  # 不合法的参数 (also: a response_code WeCom never issued)
MISSING_TOKEN = 41001  # 缺少access_token参数
EXPIRED_TOKEN = 42001  # access_token已过期
CODE_USED = 42022  # code已经被使用过 — a response_code used before, or past its 72 hours
EMPTY_TEXT = 44004  # 文本消息content参数为空
TOO_LONG = 45002  # 消息内容大小超过限制
FLOODED = 45009  # 接口调用超过限制 (also: a member's 30 a minute / 1,000 an hour)
NO_PERMISSION = 48002  # API接口无权限调用 (the other app's token)
NO_RECEIVER = 81013  # UserID、部门ID、标签ID全部非法或无权限
SYSTEM_BUSY = -1  # 系统繁忙
OUTSIDE_WINDOW = 95001  # customer service: past 48 h after the customer's last message, or 5 sent
INVALID_KF = 95004  # customer service: open_kfid that is not the corp's
INVALID_MSG_TOKEN = 95007  # customer service: a sync_msg Token not (or no longer) valid

ERRMSG = {
    0: "ok",
    INVALID_SECRET: "invalid credential",
    INVALID_CORP: "invalid corpid",
    INVALID_TOKEN: "invalid access_token",
    INVALID_AGENT: "invalid agentid",
    INVALID_PARAMETER: "invalid Request Parameter",
    MISSING_TOKEN: "access_token missing",
    EXPIRED_TOKEN: "access_token expired",
    CODE_USED: "response_code has been used or has expired",
    EMPTY_TEXT: "empty content",
    TOO_LONG: "content size out of limit",
    FLOODED: "api freq out of limit",
    NO_PERMISSION: "api forbidden",
    NO_RECEIVER: "user & party & tag all invalid",
    SYSTEM_BUSY: "system busy",
    OUTSIDE_WINDOW: "send msg count limit or out of the 48 hours session window",
    INVALID_KF: "invalid open_kfid",
    INVALID_MSG_TOKEN: "invalid msg token",
}

MINUTE, HOUR = 60.0, 3600.0
CODE_LIFETIME = 72 * HOUR  # a card's response_code: once, within 72 hours
WINDOW = 48 * HOUR  # customer service: replies within 48 hours of the customer's last message
WINDOW_MESSAGES = 5  # … and at most 5 of them
MSG_TOKEN_LIFETIME = 10 * MINUTE  # a kf_msg_or_event Token is good for sync_msg this long
WELCOME_LIFETIME = 20.0  # an enter_session welcome_code, once, within 20 seconds


class WeComError(Exception):
    """An answer with a non-zero errcode (raised inside the emulator, answered as JSON)."""

    def __init__(self, errcode: int, detail: str = "", **extra: Any) -> None:
        super().__init__(errcode, detail)
        self.errcode, self.detail, self.extra = errcode, detail, extra

    def answer(self) -> JSONResponse:
        """WeCom's JSON error body (HTTP 200, as WeCom answers errors)."""
        message = ERRMSG.get(self.errcode, "error")
        if self.detail:
            message += f", hint: [{self.detail}]"
        return JSONResponse({"errcode": self.errcode, "errmsg": message, **self.extra})


@dataclass
class Clock:
    """WeCom's time: the wall clock, moved forward by ``advance`` (no test ever sleeps)."""

    offset: float = 0.0

    def now(self) -> float:
        """Seconds since 1970 as WeCom sees them."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move WeCom's time forward by ``seconds``."""
        self.offset += seconds


def new_id(prefix: str = "", size: int = 16) -> str:
    """An opaque WeCom-looking id."""
    return prefix + secrets.token_urlsafe(size).replace("-", "A").replace("_", "B")


@dataclass(frozen=True, slots=True)
class Button:
    """One button of a card: its text, its key (the bot's data) and WeCom's style (1–4)."""

    text: str
    key: str
    style: int = 1


@dataclass
class Card:
    """A button_interaction card as one member sees it now (updates applied)."""

    task_id: str
    title: str
    desc: str
    sub_title: str
    buttons: list[Button]
    source: dict[str, Any]  # the template_card as last sent or replaced
    replace_name: str | None = None  # set by an update: the buttons gave way to this label
    updates: list[dict[str, Any]] = field(default_factory=list)  # each update applied, in order

    def pressable(self) -> list[str]:
        """The keys of the buttons a member can still press (none once replaced by a label)."""
        return [] if self.replace_name is not None else [b.key for b in self.buttons]

    def text(self) -> str:
        """Everything the card says, for a test's ``in`` checks."""
        parts = [self.title, self.desc, self.sub_title]
        parts += [
            str(item.get("keyname", "")) + " " + str(item.get("value", ""))
            for item in self.source.get("horizontal_content_list") or []
        ]
        return "\n".join(p for p in parts if p)


@dataclass
class AppMessage:
    """A message the staff app sent one member: a text, or a card."""

    msgid: str
    userid: str
    kind: str  # "text" or "card"
    text: str  # the text's content, or the card's words
    at: float
    card: Card | None = None


@dataclass(frozen=True, slots=True)
class MenuItem:
    """A click item of a customer-service menu."""

    id: str
    content: str


@dataclass
class KfMessage:
    """A message customer service sent one resident: a text, or a menu of click items."""

    msgid: str
    open_kfid: str
    external_userid: str
    kind: str  # "text" or "msgmenu"
    text: str  # the text's content, or the menu's head, items and tail joined
    at: float
    head: str = ""
    items: list[MenuItem] = field(default_factory=list)
    tail: str = ""
    on_event: bool = False  # sent with a welcome_code (send_msg_on_event)

    def item_ids(self) -> list[str]:
        """The ids of the menu's click items."""
        return [item.id for item in self.items]


@dataclass
class Session:
    """A resident's conversation with a customer-service account: the reply window."""

    last_customer_at: float | None = None
    sent_since: int = 0


@dataclass(frozen=True, slots=True)
class SyncCall:
    """One sync_msg call as WeCom received it, and what it gave."""

    open_kfid: str
    cursor: str
    token: str
    limit: int
    msgids: tuple[str, ...]
    next_cursor: str
    errcode: int = 0


@dataclass(frozen=True, slots=True)
class Posted:
    """A callback the emulator posted to the bot, and the bot's answer."""

    url: str
    params: dict[str, str]
    body: bytes
    fields: dict[str, str | int]  # the inner message (before encryption)
    status_code: int
    text: str
    elapsed: float  # seconds the bot took (WeCom waits 5)
    expected: str = ""  # for a URL verification: the echostr's plaintext the bot must answer
