"""The console's guards: the signed session cookie, the CSRF check on every POST (the sign-in's
too), and the headers every console response carries (CSP without inline script, no framing, no
referrer)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "wolaiban_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_COOKIE = 512
# The sign-in page's own cookie: a random value of this browser, to which the form's token is
# bound (a link's token alone is no secret from whoever holds the link: an attacker could open
# their own link, read its form and make a victim's browser post it, signing the victim in as
# the attacker).
LOGIN_COOKIE = "wolaiban_login"
LOGIN_PATH = "/console/login"
LOGIN_SECONDS = 600  # as long as a sign-in link lives
# Sent by the list's own refresh (htmx polling, see _list.html): a request the user did not make,
# which does not keep the session alive.
BACKGROUND_HEADER = "x-wolaiban-background"

HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",  # a sign-in link in a URL must not travel on
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


@dataclass(frozen=True, slots=True)
class CookieJar:
    """Signs session ids into cookie values with ``CONSOLE_SECRET`` and reads them back."""

    secret: str
    secure: bool

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret, salt="wolaiban-console-session")

    def value(self, session_id: str) -> str:
        """The cookie value naming ``session_id``."""
        return str(self._serializer().dumps(session_id))

    def session_id(self, value: str | None) -> str | None:
        """The session id a cookie value names; None when it is missing or forged."""
        if not value or len(value) > MAX_COOKIE:
            return None
        try:
            found = self._serializer().loads(value)
        except BadSignature:
            return None
        return found if isinstance(found, str) else None

    def options(self) -> dict[str, object]:
        """How the cookie is set: HttpOnly, SameSite=Lax, Secure over https, console paths."""
        return {"httponly": True, "samesite": "lax", "secure": self.secure, "path": "/console"}

    def login_nonce(self, value: str | None) -> str:
        """This browser's sign-in cookie value when it has a sound one, else a new one."""
        if value and len(value) <= MAX_COOKIE and value.isascii() and value.isprintable():
            return value
        return secrets.token_urlsafe(24)

    def login_proof(self, nonce: str, token: str) -> str:
        """The sign-in form's token: bound to this browser's sign-in cookie and to the link, and
        made with ``CONSOLE_SECRET`` (no one without it can make one)."""
        message = f"login\n{nonce}\n{token}".encode()
        return hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()

    def login_ok(self, nonce: str | None, token: str, given: str | None) -> bool:
        """True when the sign-in form's token fits this browser's cookie and the link."""
        if not nonce or not given or len(nonce) > MAX_COOKIE:
            return False
        return hmac.compare_digest(self.login_proof(nonce, token).encode(), given.encode())

    def login_options(self) -> dict[str, object]:
        """How the sign-in cookie is set: only to the sign-in path, for a link's lifetime, and
        SameSite=Strict (a POST from another site never carries it)."""
        return {
            "httponly": True,
            "samesite": "strict",
            "secure": self.secure,
            "path": LOGIN_PATH,
            "max_age": LOGIN_SECONDS,
        }


def csrf_ok(expected: str, given: str | None) -> bool:
    """True when ``given`` is the session's CSRF token (compared in constant time)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


class SecurityHeaders:
    """ASGI middleware: the console's security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sending)
