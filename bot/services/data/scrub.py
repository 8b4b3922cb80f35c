"""Taking a person out of texts: their old ids become their new one, and their phones (however
written), other addresses and names become ``***`` — in plain text and inside JSON values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.services.data import phones

MARK = "***"
# A name shorter than this is left in texts: one character (a surname alone) would take that
# character out of every text of their cases.
MIN_NAME = 2


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Rewrites texts for one erased person (``scrubber`` builds it)."""

    new_id: str
    ids: re.Pattern[str] | None
    traces: re.Pattern[str] | None

    def text(self, value: str) -> str:
        """``value`` without the person: ids renamed first (they embed addresses), then the rest."""
        if self.ids is not None:
            value = self.ids.sub(self.new_id, value)
        if self.traces is not None:
            value = self.traces.sub(MARK, value)
        return value

    def json(self, value: Any) -> Any:
        """A JSON value with every string in it (keys too) rewritten by ``text``."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.json(v) for k, v in value.items()}
        return value


def _either(parts: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern trying ``parts`` longest first (the longer a match, the less is left behind)."""
    ordered = sorted(set(parts), key=lambda p: (-len(p), p))
    return re.compile("|".join(f"(?:{p})" for p in ordered)) if ordered else None


def _address(address: str) -> str:
    """A chat id or any other address, never as part of a longer id or number."""
    escaped = re.escape(address)
    return rf"(?<![\w]){escaped}(?![\w])" if address.isalnum() else escaped


def _name(name: str) -> str:
    """A name as written, any case; a Latin one only as whole words ("Li" is not in "Lift")."""
    escaped = re.escape(name)
    start = r"(?<!\w)" if name[0].isascii() and name[0].isalnum() else ""
    end = r"(?!\w)" if name[-1].isascii() and name[-1].isalnum() else ""
    return f"(?i:{start}{escaped}{end})"


def scrubber(
    *,
    new_id: str,
    ids: Iterable[str],
    addresses: Iterable[str],
    names: Iterable[str],
) -> Scrubber:
    """The rewriter for a person known by ``ids``, reached at ``addresses`` (phones are found in
    any written form) and called ``names``."""
    traces = []
    for address in {a for a in addresses if a}:
        traces.append(phones.pattern(address) if phones.E164.fullmatch(address) else "")
        traces.append(_address(address))
    traces += [_name(n.strip()) for n in names if len(n.strip()) >= MIN_NAME]
    return Scrubber(
        new_id=new_id,
        ids=_either(rf"(?<![\w-]){re.escape(i)}(?![\w-])" for i in ids if i),
        traces=_either(t for t in traces if t),
    )
