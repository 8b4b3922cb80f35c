"""How the loopback Telegram reads what the bot sends it: a method's parameters (JSON, a form,
multipart with uploads; non-string values JSON-encoded in forms), the one method a webhook's
answer may carry, and Telegram's ``{"ok": false, …}`` errors."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

# Parameters Telegram reads as JSON when they are not plain strings.
_JSON_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "reply_markup",
        "offset",
        "limit",
        "timeout",
        "allowed_updates",
        "commands",
        "show_alert",
        "cache_time",
        "disable_notification",
        "scope",
        "max_connections",
        "drop_pending_updates",
        "protect_content",
        "link_preview_options",
        "reply_parameters",
        "media",
    }
)


async def request_params(request: Request) -> dict[str, Any]:
    """A Bot API request's parameters; an uploaded file's as its bytes."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return dict(json.loads(body)) if body else {}
    form = await request.form()
    params: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            params[key] = _form_value(key, value)
        else:
            params[key] = await value.read()  # an uploaded file (a photo): its bytes
    return params


def reply_params(answer: httpx.Response) -> dict[str, Any]:
    """The method call a webhook's answer carries (``method`` among its parameters), as Telegram
    reads one from a JSON or form-encoded 2xx body; empty when it carries none."""
    kind = answer.headers.get("content-type", "")
    if kind.startswith("application/json") and answer.content:
        body = json.loads(answer.content)
        return dict(body) if isinstance(body, dict) else {}
    if kind.startswith("application/x-www-form-urlencoded"):
        return {key: _form_value(key, value) for key, value in parse_qsl(answer.text)}
    return {}


def error(code: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    """Telegram's answer to a request it refuses."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def _form_value(key: str, value: str) -> Any:
    if key not in _JSON_PARAMS:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
