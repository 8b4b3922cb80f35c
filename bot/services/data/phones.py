"""A phone number as people write it: the E.164 numbers a query may mean, and a pattern finding
one number in a text however it is written (+86 138 1234 5678, 8613812345678, 138-1234-5678)."""

from __future__ import annotations

import re
import unicodedata

E164 = re.compile(r"\+[1-9]\d{6,14}")
# What people put between the digits of a number they write out (full-width ones too).
SEPARATORS = " -.()\u00a0\u3000（）－"
# A bare national number is read as a mainland one: the product's home, and the form the
# directory's communities text from.
HOME_CODE = "86"
_MAINLAND_MOBILE = re.compile(r"1[3-9]\d{9}")
_GAP = f"[{re.escape(SEPARATORS)}]{{0,2}}"


def candidates(query: str) -> list[str]:
    """The E.164 numbers ``query`` may be, as the SMS channel stores a sender (``+`` and
    digits): ``+86 138-1234-5678``, ``8613812345678``, ``0086…`` and a bare mainland mobile
    ``13812345678`` all give ``+8613812345678``; empty when it is no phone number."""
    text = unicodedata.normalize("NFKC", query).strip()  # full-width digits and plus
    international = text.startswith("+")
    digits = "".join(ch for ch in text.lstrip("+") if ch not in SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        return []
    if digits.startswith("00"):
        digits, international = digits[2:], True
    if not international and _MAINLAND_MOBILE.fullmatch(digits):
        digits = HOME_CODE + digits  # 11 digits from 1[3-9] are a mainland mobile, not a +1 number
    number = f"+{digits}"
    return [number] if E164.fullmatch(number) else []


def _spelled(digits: str) -> str:
    """``digits`` with up to two separators between any two, each digit ASCII or full-width."""
    return _GAP.join(f"[{d}{chr(0xFF10 + int(d))}]" for d in digits)


def pattern(number: str) -> str:
    """A regular expression finding ``number`` (E.164) in a text as people write it: with its
    country code (``+86``, ``0086``, ``86``) or without (a trunk ``0`` allowed), with spaces,
    dashes, dots or brackets between digits, in full-width digits too; never inside a longer
    run of digits."""
    digits = number.lstrip("+")
    alternatives = []
    # A country code is one to three digits, and which it is needs a table of codes: each
    # split is tried. A wrong split only finds a shorter tail of the same number.
    for size in (1, 2, 3):
        code, national = digits[:size], digits[size:]
        if len(national) >= 6:
            prefix = f"(?:(?:[+＋]|00)?{_GAP}{_spelled(code)}{_GAP})?"
            alternatives.append(f"{prefix}[0０]?{_spelled(national)}")
    return r"(?<!\d)(?:" + "|".join(alternatives) + r")(?!\d)"
