"""The signature on every update pushed to a city: ``X-Wolaiban-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>." + the body, keyed by the key's updates secret>`` — the receiver
recomputes it, compares in constant time and refuses a ``t`` too far from its clock (a replay)."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Wolaiban-Signature"
TOLERANCE = 300  # seconds a receiver should accept between ``t`` and its own clock


def signature(secret: str, body: bytes, at: int) -> str:
    """The header's value for ``body`` sent at unix time ``at``."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def valid(secret: str, body: bytes, header: str, now: int, tolerance: int = TOLERANCE) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance`` of
    ``now`` — what a city's receiver checks (and our tests, as one)."""
    parts = dict(item.partition("=")[::2] for item in header.split(","))
    at = parts.get("t", "")
    if not at.isascii() or not at.isdigit() or abs(now - int(at)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, body, int(at)), f"t={at},v1={parts.get('v1', '')}")
