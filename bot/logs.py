"""Logging for ``wolaiban run``: one line per record, and no secret or phone number in any line.

The filter sits on the handler, so it sees every record — ours, PTB's, httpx's, twilio's — and
rewrites the message after formatting: secrets are replaced, phone numbers are masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_PHONE = re.compile(r"\+\d{8,15}")


def mask_phone(match: re.Match[str]) -> str:
    """``+8613800000001`` → ``+86138****0001``: enough to tell numbers apart, not to dial."""
    number = match.group(0)
    return f"{number[:6]}****{number[-4:]}"


class Redactor(logging.Filter):
    """Replaces the given secrets and masks phone numbers in every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with secrets replaced and phone numbers masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _PHONE.sub(mask_phone, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and traceback) in place; never drop it."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure(level: str, secrets: Iterable[str]) -> None:
    """Log to stderr at ``level`` through the redactor; quiet the chattiest libraries."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "twilio.http_client", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
