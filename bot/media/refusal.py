"""Why a fetch did not happen or gave no image: ``Refused`` and its kind for malformed URLs."""

from __future__ import annotations


class Refused(Exception):
    """A fetch that must not happen or did not give an image; ``reason`` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class MalformedURL(Refused):
    """A URL or redirect ``Location`` that is no well-formed http(s) URL (reason ``malformed``).

    A subclass of ``Refused`` so every caller that answers a refusal (Open311's 400, the MMS
    fetcher's count) answers this one the same way, with no change of its own.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("malformed", detail)
