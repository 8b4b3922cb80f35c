"""A loopback Telegram Bot API: enough of it for the bot, the demo, the tests and the benchmarks.

Serves ``/bot<token>/<method>`` the way Telegram does (form-encoded or multipart requests,
JSON-encoded non-string values, ``{"ok": …}`` answers) and enforces Telegram's flood limits with
429 and ``retry_after``. It also plays the people: ``user_says``, ``user_presses`` and ``inbox``
let a test or the demo write as a resident and read what each chat received. Updates go out by
``getUpdates`` or, once ``setWebhook`` is called, are posted to the webhook with its secret header.
A webhook's 2xx answer may carry one method call, which the emulator runs as Telegram does (its
result goes nowhere); ``calls`` counts the methods the bot called itself, ``replies`` keeps the
ones its webhook answers carried. A test may hold the answers to button presses (``hold_answers``)
and let a press's query expire (``expire``): later answers to it get Telegram's 400, as when the
answer came too late; a webhook answer held past its query's expiry came too late for the post
too (it fails as unanswered, and Telegram delivers the update again).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.telegram_media import (
    NO_CAPTION,
    NO_TEXT,
    Files,
    album_items,
    caption_refusal,
    photo_sizes,
)
from sandbox.telegram_wire import error, reply_params, request_params

QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query id is invalid"


@dataclass
class Limits:
    """Telegram's flood limits; the defaults are Telegram's own."""

    per_second: int = 30
    private_interval: float = 1.0
    group_per_minute: int = 20
    group_window: float = 60.0  # the "minute" of group_per_minute (shorter in tests)
    enforce: bool = True


@dataclass
class Sent:
    """A message in a chat, as the person sees it now (edits applied)."""

    message_id: int
    chat_id: int
    text: str
    buttons: list[list[dict[str, str]]]
    from_bot: bool
    at: float
    edits: int = 0
    photo: bool = False  # a photo: ``text`` is its caption
    file_id: str | None = None  # the photo's file id (sent by id, or given to an upload)
    album: str | None = None  # the media group it came in
    history: list[tuple[float, str, list[list[dict[str, str]]]]] = field(default_factory=list)

    def button_data(self) -> list[str]:
        """Every button's callback data, row by row."""
        return [b.get("callback_data", "") for row in self.buttons for b in row]


@dataclass
class TelegramEmulator:
    """The emulator's state; ``app`` is the Starlette app to serve."""

    token: str = "123456:TEST-TOKEN"
    username: str = "wolaiban_demo_bot"
    limits: Limits = field(default_factory=Limits)
    chats: dict[int, list[Sent]] = field(default_factory=lambda: defaultdict(list))
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    too_many_requests: int = 0
    outage: bool = False  # every send answered 502, as when Telegram is down
    photos: dict[int, bytes] = field(default_factory=dict)  # message id -> uploaded photo
    # Files people sent, by file id (getFile and /file/bot<token>/<path> serve them).
    files: dict[str, bytes] = field(default_factory=dict)
    file_downloads: int = 0
    sendable: Files = field(default_factory=Files)  # the photo file ids the bot may send by
    forced_retry: dict[int, int] = field(default_factory=dict)
    webhook: dict[str, str] | None = None
    holding: bool = False  # answerCallbackQuery waits (until released, or its query expires)
    held: list[int] = field(default_factory=list)  # the presses whose answer waits now
    expired: set[str] = field(default_factory=set)  # callback query ids past their answer
    calls: Counter[str] = field(default_factory=Counter)  # methods called (lower case): count
    replies: list[dict[str, Any]] = field(default_factory=list)  # methods webhook answers carried
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _history: dict[int, dict[str, Any]] = field(default_factory=dict)
    _replayed: list[dict[str, Any]] = field(default_factory=list)
    _next_update: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _next_message: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _answers_moved: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _global: deque[float] = field(default_factory=deque)
    _last_private: dict[int, float] = field(default_factory=dict)
    _group: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    @property
    def app(self) -> Starlette:
        """The ASGI app answering ``/bot<token>/<method>``."""
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    # ---- the people -------------------------------------------------------------------------

    def add_user(self, user_id: int, name: str, language: str | None = "zh") -> dict[str, Any]:
        """Make a Telegram user known (as if they had opened a chat with the bot)."""
        user = {"id": user_id, "is_bot": False, "first_name": name}
        if language:
            user["language_code"] = language
        self.users[user_id] = user
        return user

    async def user_says(
        self,
        user_id: int,
        text: str = "",
        *,
        photo: str | None = None,
        reply_to: Sent | None = None,
    ) -> int:
        """The user sends a message (a command when it starts with ``/``), as a reply to
        ``reply_to`` when given (Telegram quotes the message replied to); returns update_id."""
        user = self.users[user_id]
        message: dict[str, Any] = {
            "message_id": next(self._next_message),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
            "from": user,
        }
        if photo is not None:
            self.sendable.seen(photo)
            message["photo"] = [
                {"file_id": photo, "file_unique_id": photo, "width": 640, "height": 480}
            ]
            if text:
                message["caption"] = text
        else:
            message["text"] = text
            if text.startswith("/"):
                length = len(text.split()[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        self.chats[user_id].append(Sent(message["message_id"], user_id, text, [], False, 0.0))
        return await self._push({"message": message})

    async def user_presses(self, user_id: int, message: Sent, data: str) -> int:
        """The user presses the button with callback ``data`` under ``message``."""
        user = self.users[user_id]
        callback = {
            "id": str(next(self._next_message)),
            "from": user,
            "chat_instance": str(message.chat_id),
            "data": data,
            "message": self._message_json(message),
        }
        return await self._push({"callback_query": callback})

    def inbox(self, chat_id: int) -> list[Sent]:
        """What the bot sent to a chat, oldest first (edits applied)."""
        return [m for m in self.chats.get(chat_id, []) if m.from_bot]

    def last(self, chat_id: int) -> Sent:
        """The newest message the bot sent to a chat."""
        return self.inbox(chat_id)[-1]

    def answer_to(self, update_id: int) -> dict[str, Any] | None:
        """How the bot answered the button press of ``update_id`` (None while it has not)."""
        query_id = self._history[update_id]["callback_query"]["id"]
        return next((a for a in self.alerts if a.get("callback_query_id") == query_id), None)

    async def replay(self, update_id: int) -> None:
        """Deliver an update again, as Telegram does after a timeout (by the webhook, or in the
        next ``getUpdates`` answer even though its offset was confirmed)."""
        original = self._history[update_id]
        if self.webhook is None:
            self._replayed.append(original)
        await self._deliver(original)

    def hold_answers(self, hold: bool = True) -> None:
        """Make answers to button presses wait (``hold``) or let the waiting ones through."""
        self.holding = hold
        self._answers_moved.set()

    def expire(self, update_id: int) -> None:
        """The query of the press ``update_id`` is too old: its answers (held ones too) get 400."""
        self.expired.add(self._history[update_id]["callback_query"]["id"])
        self._answers_moved.set()

    def close(self) -> None:
        """End the long polls and held answers in progress now (the server is about to stop)."""
        self._closed = True
        self._arrived.set()
        self.hold_answers(False)

    # ---- updates ----------------------------------------------------------------------------

    async def _push(self, body: dict[str, Any]) -> int:
        update = {"update_id": next(self._next_update), **body}
        self._history[update["update_id"]] = update
        if self.webhook is None:
            self._updates.append(update)
        await self._deliver(update)
        return int(update["update_id"])

    async def _deliver(self, update: dict[str, Any]) -> None:
        if self.webhook is None:
            self._arrived.set()
            return
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.get("secret_token", "")}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(self.webhook["url"], json=update, headers=headers)
        if answer.status_code >= 300:
            raise RuntimeError(f"webhook answered {answer.status_code}")
        await self._run_reply(reply_params(answer))

    async def _run_reply(self, params: dict[str, Any]) -> None:
        """Run the method a webhook's answer carries, as if the bot had called it; a press's
        answer held until its query expired came too late: the post counts as unanswered."""
        method = str(params.get("method", "")).lower()
        if not method:
            return
        self.replies.append(params)
        query_id = str(params.get("callback_query_id", ""))
        waiting = self.holding and query_id not in self.expired
        await self._call(method, {k: v for k, v in params.items() if k != "method"})
        if waiting and query_id in self.expired:
            raise httpx.ReadTimeout("the webhook answered after the query expired")

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:  # confirming: Telegram forgets what came before the offset
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
        while True:
            ready = self._replayed + [u for u in self._updates if u["update_id"] >= offset]
            if ready or self._closed or time.monotonic() >= deadline:
                given = ready[: int(params.get("limit") or 100)]
                self._replayed = [u for u in self._replayed if u not in given]
                return given
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())

    # ---- sending ----------------------------------------------------------------------------

    def _flood(self, chat_id: int) -> int | None:
        """Seconds to wait when sending to ``chat_id`` now would break a limit, else None."""
        if chat_id in self.forced_retry:
            return self.forced_retry.pop(chat_id)
        if not self.limits.enforce:
            return None
        now = time.monotonic()
        while self._global and now - self._global[0] >= 1.0:
            self._global.popleft()
        if len(self._global) >= self.limits.per_second:
            return 1
        if chat_id > 0:
            last = self._last_private.get(chat_id)
            if last is not None and now - last < self.limits.private_interval * 0.98:
                return 1
            self._last_private[chat_id] = now
        else:
            window = self._group[chat_id]
            span = self.limits.group_window
            while window and now - window[0] >= span:
                window.popleft()
            if len(window) >= self.limits.group_per_minute:
                return int(span - (now - window[0])) + 1
            window.append(now)
        self._global.append(now)
        return None

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private" if sent.chat_id > 0 else "group"},
        }
        if sent.photo:  # a photo's words are its caption
            message["photo"] = photo_sizes(sent.file_id or "")
            if sent.text:
                message["caption"] = sent.text
            if sent.album:
                message["media_group_id"] = sent.album
        else:
            message["text"] = sent.text
        if sent.from_bot:
            message["from"] = self._me()
        if sent.buttons:
            message["reply_markup"] = {"inline_keyboard": sent.buttons}
        return message

    def _me(self) -> dict[str, Any]:
        bot_id = int(self.token.split(":")[0])
        return {"id": bot_id, "is_bot": True, "first_name": "Wolaiban", "username": self.username}

    def _send(
        self, params: dict[str, Any], *, file_id: str | None = None, album: str | None = None
    ) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        markup = params.get("reply_markup") or {}
        sent = Sent(
            message_id=next(self._next_message),
            chat_id=chat_id,
            text=str(params.get("text") or params.get("caption") or ""),
            buttons=markup.get("inline_keyboard", []),
            from_bot=True,
            at=time.monotonic(),
            photo=file_id is not None,
            file_id=file_id,
            album=album,
        )
        self.chats[chat_id].append(sent)
        content = self.files.get(file_id) if file_id else None
        if content is not None:
            self.photos[sent.message_id] = content
        return self._message_json(sent)

    def _send_photo(self, params: dict[str, Any]) -> Any:
        refused = caption_refusal(params)
        taken = self.sendable.take(params.get("photo"), params, self.files)
        if refused is not None or isinstance(taken, tuple):
            return refused or taken
        return self._send(params, file_id=taken)

    def _send_album(self, params: dict[str, Any]) -> Any:
        items = album_items(params, self.sendable, self.files)
        if isinstance(items, tuple):
            return items
        group = f"album-{next(self._next_message)}"
        return [self._send({"chat_id": params["chat_id"]}, file_id=f, album=group) for f in items]

    def _edit(self, method: str, params: dict[str, Any]) -> dict[str, Any] | tuple[int, str]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        found = next((m for m in self.chats.get(chat_id, []) if m.message_id == message_id), None)
        if found is None or not found.from_bot:
            return 400, "Bad Request: message to edit not found"
        caption = "caption" in params or method == "editmessagecaption"
        if method == "editmessagetext" and found.photo:
            return 400, NO_TEXT
        if caption and not found.photo:
            return 400, NO_CAPTION
        refused = caption_refusal(params)
        if refused is not None:
            return refused
        text = str(params.get("caption" if caption else "text", found.text))
        buttons = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        if text == found.text and buttons == found.buttons:
            return 400, "Bad Request: message is not modified"
        found.history.append((time.monotonic(), text, buttons))  # what each edit showed, when
        if not found.history[:-1]:
            found.history.insert(0, (found.at, found.text, found.buttons))
        found.text, found.buttons, found.edits = text, buttons, found.edits + 1
        return self._message_json(found)

    # ---- the HTTP endpoint ------------------------------------------------------------------

    async def _file(self, request: Request) -> Response:
        """A file's bytes, as Telegram's file server hands them out after getFile."""
        if request.path_params["token"] != self.token:
            return error(401, "Unauthorized")
        content = self.files.get(_file_id(request.path_params["path"]))
        if content is None:
            return error(404, "Not Found")
        self.file_downloads += 1
        return Response(content, media_type="application/octet-stream")

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return error(401, "Unauthorized")
        method = request.path_params["method"].lower()
        self.calls[method] += 1
        params = await request_params(request)
        result = await self._call(method, params)
        if isinstance(result, tuple):
            code, description = result[0], result[1]
            extra = {"retry_after": result[2]} if len(result) > 2 else None
            return error(code, description, extra)
        return JSONResponse({"ok": True, "result": result})

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        match method:
            case "getme":
                return self._me()
            case "getupdates":
                return await self._get_updates(params)
            case "setwebhook":
                self.webhook = {
                    "url": params["url"],
                    "secret_token": params.get("secret_token", ""),
                }
                return True
            case "deletewebhook":
                self.webhook = None
                return True
            case "setmycommands":
                language = params.get("language_code") or ""
                self.commands[language] = params.get("commands") or []
                return True
            case "answercallbackquery":
                return await self._answer_query(params)
            case "getfile":
                file_id = str(params.get("file_id", ""))
                if file_id not in self.files:
                    return 400, "Bad Request: invalid file_id"
                size = len(self.files[file_id])
                path = f"photos/{file_id}.jpg"
                return {
                    "file_id": file_id,
                    "file_unique_id": file_id,
                    "file_size": size,
                    "file_path": path,
                }
            case (
                "sendmessage"
                | "sendphoto"
                | "sendmediagroup"
                | "editmessagetext"
                | "editmessagecaption"
                | "editmessagereplymarkup"
            ):
                return self._outgoing(method, params)
        return 404, f"Not Found: method {method} is not emulated"

    async def _answer_query(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        presses = self._history.items()
        found = (n for n, u in presses if u.get("callback_query", {}).get("id") == query_id)
        update_id = next(found, None)
        if self.holding and update_id is not None and query_id not in self.expired:
            self.held.append(update_id)
            while self.holding and query_id not in self.expired:
                self._answers_moved.clear()
                await self._answers_moved.wait()
            self.held.remove(update_id)
        if query_id in self.expired:
            return 400, QUERY_TOO_OLD
        self.alerts.append(params)
        return True

    def _outgoing(self, method: str, params: dict[str, Any]) -> Any:
        chat_id = int(params.get("chat_id", 0))
        if self.outage:
            return 502, "Bad Gateway"
        if chat_id in self.blocked:
            return 403, "Forbidden: bot was blocked by the user"
        if chat_id > 0 and chat_id not in self.users:
            return 400, "Bad Request: chat not found"
        last_private = self._last_private.get(chat_id)
        wait = self._flood(chat_id)
        if wait is not None:
            self.too_many_requests += 1
            return 429, f"Too Many Requests: retry after {wait}", wait
        if method.startswith("edit"):
            edited = self._edit(method, params)
            if isinstance(edited, tuple) and edited[1] in (NO_TEXT, NO_CAPTION):
                self._uncount(chat_id, last_private)  # the wrong kind of edit: nothing changed
            return edited
        if method in ("sendphoto", "sendmediagroup"):
            sent = self._send_photo(params) if method == "sendphoto" else self._send_album(params)
            if isinstance(sent, tuple):  # the photo was refused: no message, no send counted
                self._uncount(chat_id, last_private)
            return sent
        return self._send(params)

    def _uncount(self, chat_id: int, last_private: float | None) -> None:
        """Take back the flood accounting of a send that made no message."""
        if self._global:
            self._global.pop()
        if chat_id > 0 and last_private is not None:
            self._last_private[chat_id] = last_private
        elif chat_id > 0:
            self._last_private.pop(chat_id, None)
        elif self._group[chat_id]:
            self._group[chat_id].pop()


def _file_id(path: str) -> str:
    """The file id a download path (``photos/<file id>.jpg``) names."""
    return path.removeprefix("photos/").removesuffix(".jpg")
