"""A POSTed form read field by field as it streams in, within tight bounds (the whole body, each
field, the number of fields, a part's headers), so the caller can check ``api_key`` the moment
it arrives and a request without a valid key costs at most ``MAX_BODY`` bytes read."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from urllib.parse import unquote_plus

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_BODY = 256 * 1024  # a 4,000-character description, percent-encoded, fits many times over
MAX_FIELD = 64 * 1024  # one field's name or value as sent: the description percent-encoded is 36 KB
MAX_FIELDS = 64  # the spec's fields and a few attributes
MAX_HEADER = 1024  # one header of a multipart part
MAX_HEADERS = 8  # headers of one part (a form field needs one or two)

Field = tuple[str, str]


class FormRefused(Exception):
    """The form cannot be read: ``reason`` is ``too_large`` or ``form`` (not a form we take)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def fields(request: Request) -> AsyncGenerator[Field, None]:
    """The form's fields in the order sent, each as soon as it is complete: form-encoded or
    multipart without files, UTF-8. Raises ``FormRefused`` as soon as a bound is passed (nothing
    more is read), and after the last field when a part was a file (files are never kept)."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise FormRefused("too_large")  # refused before a byte is read
    if kind == FORM.encode():
        async for found in _encoded(request):
            yield found
    elif kind == MULTIPART.encode() and options.get(b"boundary"):
        async for found in _multipart(request, options[b"boundary"]):
            yield found
    else:
        raise FormRefused("form")


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives, cut off past ``MAX_BODY`` (a chunked body has no length to trust)."""
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise FormRefused("too_large")
        yield chunk


def _text(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise FormRefused("form") from None


async def _encoded(request: Request) -> AsyncIterator[Field]:
    """``name=value&…``: split at each ``&`` as the bytes come; a blank piece is skipped and the
    first ``=`` parts name from value (none: an empty value), as ``parse_qsl`` reads them."""
    pending = bytearray()
    count = 0
    async for chunk in _chunks(request):
        pending += chunk
        *complete, rest = pending.split(b"&")
        for piece in complete:
            if piece:
                count += 1
                yield _pair(piece, count)
        pending = bytearray(rest)
        if len(pending) > MAX_FIELD:  # one field still growing past its bound
            raise FormRefused("too_large")
    if pending:
        yield _pair(pending, count + 1)


def _pair(piece: bytes | bytearray, count: int) -> Field:
    if count > MAX_FIELDS or len(piece) > MAX_FIELD:
        raise FormRefused("too_large")
    name, _, value = _text(piece).partition("=")
    try:
        return (
            unquote_plus(name, encoding="utf-8", errors="strict"),
            unquote_plus(value, encoding="utf-8", errors="strict"),
        )
    except UnicodeDecodeError:
        raise FormRefused("form") from None


class _Parts:
    """The multipart parser's callbacks: each part's headers and data, bounded, into ``done``."""

    def __init__(self) -> None:
        self.done: list[Field] = []
        self.headers: list[tuple[bytearray, bytearray]] = []
        self.data = bytearray()
        self.count = 0
        self.is_file = False
        self.had_file = False
        self.ended = False
        self.name = ""

    def part_begin(self) -> None:
        self.headers, self.data, self.is_file = [], bytearray(), False
        self.count += 1
        if self.count > MAX_FIELDS:
            raise FormRefused("too_large")

    def header_begin(self) -> None:
        self.headers.append((bytearray(), bytearray()))
        if len(self.headers) > MAX_HEADERS:
            raise FormRefused("form")

    def header_field(self, data: bytes, start: int, end: int) -> None:
        _grow(self.headers[-1][0], data[start:end], MAX_HEADER, "form")

    def header_value(self, data: bytes, start: int, end: int) -> None:
        _grow(self.headers[-1][1], data[start:end], MAX_HEADER, "form")

    def headers_finished(self) -> None:
        disposition = next(
            (bytes(v) for k, v in self.headers if k.lower() == b"content-disposition"), b""
        )
        kind, options = parse_options_header(disposition)
        if kind != b"form-data" or not options.get(b"name"):
            raise FormRefused("form")
        # A file is never kept; its bytes are only counted, and the form refused at its end.
        self.is_file = b"filename" in options or b"filename*" in options
        self.had_file = self.had_file or self.is_file
        self.name = _text(options[b"name"])

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.is_file:
            _grow(self.data, data[start:end], MAX_FIELD, "too_large")

    def part_end(self) -> None:
        if not self.is_file:
            self.done.append((self.name, _text(self.data)))

    def end(self) -> None:
        self.ended = True


def _grow(into: bytearray, data: bytes, limit: int, reason: str) -> None:
    """Append ``data``; past ``limit`` the form is refused for ``reason``."""
    if len(into) + len(data) > limit:
        raise FormRefused(reason)
    into += data


async def _multipart(request: Request, boundary: bytes) -> AsyncIterator[Field]:
    """``multipart/form-data``, parsed chunk by chunk; a field is given once its part ends."""
    parts = _Parts()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": parts.part_begin,
            "on_part_data": parts.part_data,
            "on_part_end": parts.part_end,
            "on_header_begin": parts.header_begin,
            "on_header_field": parts.header_field,
            "on_header_value": parts.header_value,
            "on_headers_finished": parts.headers_finished,
            "on_end": parts.end,
        },
    )
    try:
        async for chunk in _chunks(request):
            parser.write(chunk)
            for found in parts.done:
                yield found
            parts.done.clear()
        parser.finalize()
    except FormParserError:
        raise FormRefused("form") from None
    if not parts.ended or parts.had_file:
        raise FormRefused("form")
