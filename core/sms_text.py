"""An outbox message as an SMS: its buttons become reply codes, and it fits in two segments."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.buttons import Button
from core.sms import fit
from core.texts import render

ROUTINE_SEGMENTS = 2
_NUMBER = re.compile(r"#\d+")


def reply_codes(buttons: Sequence[Sequence[Button]], language: str) -> str:
    """The reply codes that stand for a message's buttons ("回复 A12 接单，D12 办好")."""
    codes: list[str] = []
    for row in buttons:
        for button in row:
            verb, _, rest = button.data.partition(":")
            number = rest.split(":")[0]
            if verb in ("ack", "done"):
                codes.append(render(language, f"sms.code.{verb}", number=number))
            elif verb == "rate" and render(language, "sms.code.rate") not in codes:
                codes.append(render(language, "sms.code.rate"))
    separator = "，" if language == "zh" else ", "
    return render(language, "sms.codes", codes=separator.join(codes)) if codes else ""


def as_sms(text: str, buttons: Sequence[Sequence[Button]], language: str) -> str:
    """The SMS body: the text shortened if need be (never its case number), then the codes."""
    first = _NUMBER.search(text)
    keep = first.end() if first else 0
    return fit(text, reply_codes(buttons, language), max_segments=ROUTINE_SEGMENTS, keep=keep)
