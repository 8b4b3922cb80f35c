"""Logging for ``wolaiban run``: one line per record, and no secret, token, sign-in link, Twilio
sid or phone number in any line.

The filter sits on the handler, so it sees every record that reaches it — ours, PTB's, httpx's,
twilio's — and rewrites the message after formatting: secrets are replaced, the shapes of
credentials are blanked, phone numbers are masked. Third-party loggers that dump whole requests
(headers, bodies, URLs with a bot token in them) are kept to warnings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TextIO

# Loggers that write a request or a response at INFO: twilio's two HTTP clients (nine lines per
# SMS, with the account sid, the form and the response headers), httpx (every Bot API URL, the
# bot token in its path), httpcore and aiohttp (the connections), apscheduler (every run).
QUIET = (
    "twilio",
    "twilio.http_client",
    "twilio.async_http_client",
    "httpx",
    "httpcore",
    "aiohttp",
    "apscheduler",
)

# Shapes of credentials, blanked whatever their value (a secret we were not given, a sid).
_CREDENTIALS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A Telegram bot token (``123456:AA…``), alone or in a Bot API URL (``/bot<token>/``).
    (re.compile(r"\d+:[A-Za-z0-9_-]{30,}"), "***"),
    # Twilio sids (account AC…, message SM…/MM…, service MG…, media ME…): two capitals and 32
    # hex digits; the kind is kept, it helps to read the line.
    (re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})[0-9a-fA-F]{32}(?![0-9a-fA-F])"), r"\1***"),
    # A console sign-in link (it signs in whoever opens it) and a Telegram invite's code.
    (re.compile(r"(/console/login/)[^\s/?#\"'<>]+"), r"\1***"),
    (re.compile(r"([?&]start=)[A-Za-z0-9_-]+"), r"\1***"),
    # An Open311 key in a query string, and any Authorization header's credentials.
    (re.compile(r"(api_key=)[^&\s\"'<>]+"), r"\1***"),
    # WeCom's access token and app secret in a request URL (an httpx error keeps the URL).
    (re.compile(r"(access_token=)[^&\s\"'<>]+"), r"\1***"),
    (re.compile(r"(corpsecret=)[^&\s\"'<>]+"), r"\1***"),
    (re.compile(r"(?i)(authorization\W{1,4}(?:basic|bearer)\s+)[^\s'\",}]+"), r"\1***"),
)

# Phone numbers in the forms they come in: international with "+" (or "%2B", URL-encoded in a
# form or a query), with or without spaces, dashes, dots or brackets between the digits; a bare
# Chinese mobile (``13800000001``, ``138 0000 0001``, ``86-138-0000-0001``); any other bare run
# of 11 to 15 digits (a number in international form without its "+").
_INTERNATIONAL = re.compile(r"(?:\+|%2[Bb])\(?\d(?:[ \-.()]{0,2}\d){6,15}(?!\d)")
_MOBILE = re.compile(r"(?<![\w+])(?:(?:00)?86[ \-]?)?1[3-9]\d(?:[ \-]?\d){8}(?!\w)")
_DIGITS = re.compile(r"(?<![\w+])\d{11,15}(?!\w)")
_NOT_DIGIT = re.compile(r"\D")


def masked(digits: str) -> str:
    """A number's digits masked: at least four hidden, at most five shown before and four after
    (``8613800000001`` → ``86138****0001``, ``13800000001`` → ``138****0001``)."""
    tail = min(4, max(0, len(digits) - 4))
    head = min(5, max(0, len(digits) - 4 - tail))
    return f"{digits[:head]}****{digits[len(digits) - tail :]}"


def mask_phone(match: re.Match[str]) -> str:
    """``+86 138-0000-0001`` → ``+86138****0001``: enough to tell numbers apart, not to dial."""
    text = match.group(0)
    plus = "+" if text.startswith(("+", "%2")) else ""
    digits = _NOT_DIGIT.sub("", text[3:] if text.startswith("%2") else text)
    return plus + masked(digits)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets replaced, credentials blanked and phone numbers masked."""
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    for phone in (_INTERNATIONAL, _MOBILE, _DIGITS):
        text = phone.sub(mask_phone, text)
    return text


class Redactor(logging.Filter):
    """Replaces the given secrets, blanks credentials and masks phone numbers in every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with secrets replaced, credentials blanked and phone numbers masked."""
        return redact_text(text, self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (traceback and stack too) in place; never drop it."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure(level: str, secrets: Iterable[str], stream: TextIO | None = None) -> logging.Handler:
    """Log to ``stream`` (stderr) at ``level`` through the redactor; keep the request dumpers to
    warnings. The handler, for a caller that wants to remove it again."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
