"""WeCom's callback XML in and out, hostile by default: a bounded body, no DOCTYPE or entities,
a bounded number and size of fields, and nothing decrypted or read from inside the envelope
before its signature is checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn
from xml.parsers import expat

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from .crypto import CallbackCrypto, CallbackError

# WeCom's fields are a few dozen at most; a text is at most 2,048 bytes. Room is left for the
# ciphertext in the envelope (a callback's base64 is a few kilobytes).
MAX_FIELDS = 64
MAX_FIELD_CHARS = 8 * 1024
MAX_ENVELOPE_FIELD_CHARS = 256 * 1024
MAX_ECHOSTR = 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _refuse(*_: object) -> NoReturn:
    """An expat handler for what a WeCom callback never has."""
    raise CallbackError("DOCTYPE, entity or notation in a callback")


def _flat(body: bytes, max_chars: int) -> dict[str, str]:
    """The root's child elements as name → text (nested elements skipped); CallbackError on any
    XML that is malformed, declares a DOCTYPE or entity, or is past the bounds. A DOCTYPE stops
    the parser where it starts, so no entity of it is ever declared, let alone expanded (the text
    of a field may hold "<!DOCTYPE" in its CDATA: a resident's message is not refused for it)."""
    fields: dict[str, str] = {}
    parts: list[str] = []
    depth = size = 0
    current: str | None = None

    def start(name: str, _attributes: dict[str, str]) -> None:
        nonlocal depth, current, size
        depth += 1
        if depth == 2:
            if name in fields or len(fields) >= MAX_FIELDS or not _NAME.fullmatch(name):
                raise CallbackError(f"field {name[:64]!r} repeated, malformed or one too many")
            current, size = name, 0
            parts.clear()

    def text(data: str) -> None:
        nonlocal size
        if depth == 2 and current is not None:
            parts.append(data)
            size += len(data)
            if size > max_chars:
                raise CallbackError(f"field {current} over {max_chars} characters")

    def end(_name: str) -> None:
        nonlocal depth, current
        if depth == 2 and current is not None:
            fields[current] = "".join(parts)
            current = None
        depth -= 1

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise CallbackError(f"malformed XML: {error}") from None
    return fields


def envelope_of(body: bytes) -> dict[str, str]:
    """The outer XML's fields (Encrypt, ToUserName, AgentID); CallbackError without Encrypt."""
    fields = _flat(body, MAX_ENVELOPE_FIELD_CHARS)
    if not fields.get("Encrypt"):
        raise CallbackError("no Encrypt in the envelope")
    return fields


def fields_of(plain: bytes) -> dict[str, str]:
    """The decrypted inner XML's flat fields (ToUserName, FromUserName, MsgType, Event, …)."""
    return _flat(plain, MAX_FIELD_CHARS)


def _cdata(value: str) -> str:
    """``value`` as CDATA, a ``]]>`` inside it split across two sections."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(fields: Mapping[str, str | int]) -> bytes:
    """Fields as WeCom's flat XML: numbers bare, texts as CDATA (the emulator's messages)."""
    items = []
    for name, value in fields.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"not an XML field name: {name!r}")
        inner = str(value) if isinstance(value, int) else _cdata(value)
        items.append(f"<{name}>{inner}</{name}>")
    return ("<xml>" + "".join(items) + "</xml>").encode()


def envelope(
    encrypted: str,
    signature: str,
    timestamp: str,
    nonce: str,
    *,
    to_user: str | None = None,
    agent_id: str | None = None,
) -> bytes:
    """The outer XML around a ciphertext, as WeCom posts it (and as a passive reply carries it)."""
    fields: dict[str, str | int] = {}
    if to_user is not None:
        fields["ToUserName"] = to_user
    fields["Encrypt"] = encrypted
    if agent_id is not None:
        fields["AgentID"] = agent_id
    fields.update(MsgSignature=signature, TimeStamp=timestamp, Nonce=nonce)
    return message_xml(fields)


async def read_bounded(request: Request, max_bytes: int) -> bytes:
    """The request's body, CallbackError past ``max_bytes`` (read no further) or if cut off."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise CallbackError(f"body over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise CallbackError(f"body over {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise CallbackError("body cut off") from None
    return b"".join(chunks)


def _signed_query(request: Request) -> tuple[str, str, str]:
    """msg_signature, timestamp and nonce from the URL (their shape is checked on opening)."""
    query = request.query_params
    return query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")


async def open_callback(request: Request, crypto: CallbackCrypto, max_bytes: int) -> dict[str, str]:
    """A POSTed callback's inner fields: the bounded body read, its signature checked, then
    decrypted and parsed; CallbackError otherwise (answer 403 then)."""
    signature, timestamp, nonce = _signed_query(request)
    if not signature or not timestamp or not nonce:
        raise CallbackError("unsigned")  # refused before a byte of the body is read
    outer = envelope_of(await read_bounded(request, max_bytes))
    return fields_of(crypto.open(signature, timestamp, nonce, outer["Encrypt"]))


def verify_route_answer(request: Request, crypto: CallbackCrypto) -> Response:
    """The answer to WeCom's GET that verifies the callback URL: the decrypted echostr as plain
    text, or 403 with nothing in it."""
    signature, timestamp, nonce = _signed_query(request)
    # Base64 has no spaces: one here is a "+" that reached us not percent-encoded.
    echostr = request.query_params.get("echostr", "").replace(" ", "+")
    if not echostr or len(echostr) > MAX_ECHOSTR:
        return Response(status_code=403)
    try:
        plain = crypto.open(signature, timestamp, nonce, echostr)
        text = plain.decode()
    except (CallbackError, UnicodeDecodeError):
        return Response(status_code=403)
    return PlainTextResponse(text)
