"""The intake benchmark's requests: signed Twilio inbound SMS and Telegram webhook updates, built
(and signed) before the clock starts, and the plan of what one run posts."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from sandbox.harness import WEBHOOK_SECRET, Emulators
from sandbox.twilio import inbound_params

TelegramMode = Literal["confirm", "conversation", "text"]
SMS_PATH, TELEGRAM_PATH = "/twilio/sms", "/telegram/webhook"
# The community numbers of examples/changyang.yaml: a text to one of them is a report there.
COMMUNITY_NUMBERS = tuple(f"+861069000000{i}" for i in range(1, 7))
COMMUNITIES = 6  # the guided report lists them by id; any index 0-5 is a community
CATEGORIES = 10
TEXTS = (
    "菜鸟驿站门口的快递堆在马路上，老人孩子出行不方便",
    "楼后面的建筑垃圾堆了一周没人清理",
    "5号楼和6号楼之间的长椅坏了",
    "垃圾桶满了，有异味",
    "楼下晚上一直很吵，噪音扰民",
    "消防通道被乱停的车堵住了",
    "地下室水管漏水",
    "电梯门关不上",
    "井盖松动，很危险",
    "小区门口路灯不亮",
)


@dataclass(frozen=True, slots=True)
class Post:
    """One webhook request, built (and signed) before the clock starts."""

    path: str
    headers: dict[str, str]
    body: bytes
    report: bool  # committing it opens a case


class Payloads:
    """Builds the requests: unique MessageSids, phones, Telegram users and update ids."""

    def __init__(self, public_url: str, auth_token: str, emulators: Emulators | None) -> None:
        self._public = public_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._emulators = emulators
        self._n = itertools.count(1)
        self._update = itertools.count(1)
        self._user = itertools.count(50_000_001)

    def sms_report(self) -> Post:
        """A text from a phone never seen before to a community's own number: one report."""
        n = next(self._n)
        sid = f"SM{n:032x}"
        sender = f"+86137{n:08d}"
        to = COMMUNITY_NUMBERS[n % len(COMMUNITY_NUMBERS)]
        body = f"{TEXTS[n % len(TEXTS)]}（{n}）"
        params = inbound_params(sid, sender, to, body, account_sid="AC" + "0123456789abcdef" * 2)
        signature = self._validator.compute_signature(f"{self._public}{SMS_PATH}", params)
        headers = {
            "X-Twilio-Signature": str(signature),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        }
        return Post(SMS_PATH, headers, urlencode(params).encode(), report=True)

    def new_user(self) -> dict[str, Any]:
        """A Telegram user the bot has never met (and the emulator can deliver to)."""
        user_id = next(self._user)
        if self._emulators is not None:
            return self._emulators.telegram.add_user(user_id, f"居民{user_id}", "zh")
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"居民{user_id}",
            "language_code": "zh",
        }

    def _update_post(self, body: dict[str, Any], *, report: bool = False) -> Post:
        update = {"update_id": next(self._update), **body}
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        headers["Content-Type"] = "application/json"
        return Post(TELEGRAM_PATH, headers, json.dumps(update).encode(), report=report)

    def says(self, user: dict[str, Any], text: str) -> Post:
        """``user`` writes ``text`` (a command when it starts with /)."""
        n = next(self._n)
        message: dict[str, Any] = {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": user["id"], "type": "private", "first_name": user["first_name"]},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return self._update_post({"message": message})

    def presses(self, user: dict[str, Any], data: str, *, report: bool = False) -> Post:
        """``user`` presses the button whose callback data is ``data``."""
        query = {
            "id": str(next(self._n)),
            "from": user,
            "chat_instance": str(user["id"]),
            "data": data,
        }
        return self._update_post({"callback_query": query}, report=report)

    def guided_report(self) -> list[Post]:
        """A new user's whole guided report; the last press submits it."""
        n = next(self._n)
        user = self.new_user()
        return [
            self.says(user, "/report"),
            self.presses(user, f"r:category:{n % CATEGORIES}"),
            self.presses(user, f"r:community:{n % COMMUNITIES}"),
            self.says(user, f"{n % 200 + 1}号楼一层"),
            self.says(user, f"{TEXTS[n % len(TEXTS)]}（{n}）"),
            self.presses(user, "r:photos:skip"),
            self.presses(user, "r:confirm:ok", report=True),
        ]

    def chatter(self) -> Post:
        """A text from a new user, outside any conversation."""
        return self.says(self.new_user(), "你好，请问怎么反映问题？")


def plan(
    payloads: Payloads, count: int, mode: TelegramMode, *, jobs_not_requests: bool = False
) -> tuple[list[list[Post]], list[list[Post]]]:
    """``count`` timed requests (or jobs), alternately SMS and Telegram: the jobs (each a sequence
    one worker posts in order), and the untimed setup jobs to play first (``confirm`` mode)."""
    jobs: list[list[Post]] = []
    setup: list[list[Post]] = []
    requests = 0
    for i in itertools.count():
        if (len(jobs) if jobs_not_requests else requests) >= count:
            break
        if i % 2 == 0:
            jobs.append([payloads.sms_report()])
        elif mode == "text":
            jobs.append([payloads.chatter()])
        else:
            steps = payloads.guided_report()
            if mode == "confirm":
                setup.append(steps[:-1])
                steps = steps[-1:]
            jobs.append(steps)
        requests += len(jobs[-1])
    return jobs, setup
