"""The SMS grammar (zh and en), segment counting and fitting a message into two segments.

Text is cleaned (``core.clean``) and normalized first (NFKC: full-width digits, letters and spaces
become plain; case folded), so ``Ａ１２``, ``a 12`` and ``A#12`` all acknowledge case 12. A case
number may have any number of digits (one past any case's is still a number, answered "no such
case", never a report). Anything that is not a command is a report; ``parse`` never raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from core.cases import Rating
from core.clean import clean


@dataclass(frozen=True, slots=True)
class Report:
    """Free text: a new report."""

    text: str


@dataclass(frozen=True, slots=True)
class Status:
    """``查询`` / ``STATUS`` [``#n``]: where a case stands (the latest when no number)."""

    number: int | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    """A rating (``1``–``3`` or the words), for case ``number`` or the one waiting for it."""

    rating: Rating
    number: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OptOut:
    """``STOP`` and the other standard SMS opt-out words, ``TD``, ``退订``."""


@dataclass(frozen=True, slots=True)
class OptIn:
    """``START`` (and the other standard opt-in words): SMS again."""


@dataclass(frozen=True, slots=True)
class Help:
    """``HELP`` / ``帮助``."""


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """A manager's ``A<n>``."""

    number: int


@dataclass(frozen=True, slots=True)
class Done:
    """A manager's ``D<n>``."""

    number: int


Command = Report | Status | Rate | OptOut | OptIn | Help | Acknowledge | Done

OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "td", "退订"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info", "帮助"})
STATUS_WORDS = ("status", "查询")
RATING_WORDS = {
    "1": Rating.SATISFIED,
    "2": Rating.BASICALLY_SATISFIED,
    "3": Rating.DISSATISFIED,
    "满意": Rating.SATISFIED,
    "基本满意": Rating.BASICALLY_SATISFIED,
    "不满意": Rating.DISSATISFIED,
    "satisfied": Rating.SATISFIED,
    "basically satisfied": Rating.BASICALLY_SATISFIED,
    "not satisfied": Rating.DISSATISFIED,
    "dissatisfied": Rating.DISSATISFIED,
}
# Punctuation people add around a short command: "STOP!", "1。", "【查询】".
_EDGE = " \t\r\n.,!?;:'\"`~-_()[]{}<>。，！？；：、“”‘’（）【】《》…·"
_CODE = re.compile(r"([ad])\s*#?\s*(\d+)")
_NUMBER = re.compile(r"#?\s*(\d+)")
_RATING = re.compile(
    r"(?:#\s*(\d+)\s*)?(基本满意|不满意|满意|[123])(?:\s+|[,，:：]\s*|$)(.*)", re.S
)
_MAX_PARSED = 1600
# A longer number is read as one past them all: int() of thousands of digits is slow (and
# refused past 4,300); the database is asked only within its INTEGER (db.queries.get_case).
_MAX_DIGITS = 30
BEYOND_ANY_CASE = 10**_MAX_DIGITS


def normalize(text: str) -> str:
    """NFKC, folded case, single spaces, without the punctuation around the edges."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).strip(_EDGE)


def parse(text: str) -> Command:
    """What an SMS asks for. Never raises: anything unrecognized is a report."""
    body = clean(text)[:_MAX_PARSED] if isinstance(text, str) else ""
    word = normalize(body)
    if word in OPT_OUT_WORDS:
        return OptOut()
    if word in OPT_IN_WORDS:
        return OptIn()
    if word in HELP_WORDS:
        return Help()
    if code := _CODE.fullmatch(word):
        number = _number(code.group(2))
        return Acknowledge(number) if code.group(1) == "a" else Done(number)
    for status in STATUS_WORDS:
        if word.startswith(status):
            rest = word[len(status) :].strip(_EDGE)
            named = _NUMBER.fullmatch(rest)
            if not rest or named:
                return Status(_number(named.group(1)) if named else None)
    if word in RATING_WORDS:
        return Rate(RATING_WORDS[word])
    if rating := _RATING.fullmatch(word):
        number_text, said, reason = rating.groups()
        # A bare digit followed by more words is a report ("3 bags of rubbish by gate 2"),
        # unless it names a case ("#12 3 still there") or is the word itself ("不满意 还有垃圾").
        if number_text or not said.isdigit():
            return Rate(
                RATING_WORDS[said],
                _number(number_text) if number_text else None,
                _original_reason(body, reason),
            )
    return Report(body.strip())


def _number(digits: str) -> int:
    """A case number as written (any Unicode digits), or ``BEYOND_ANY_CASE`` when too long."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else BEYOND_ANY_CASE


def _original_reason(original: str, folded_reason: str) -> str:
    """The reason as the person wrote it (not case-folded), when it can be found."""
    if not folded_reason:
        return ""
    tail = unicodedata.normalize("NFKC", original).strip()
    return tail[-len(folded_reason) :].strip() if len(tail) >= len(folded_reason) else ""


def language_of_text(text: str) -> str:
    """``zh`` when the text has Chinese in it, else ``en``."""
    return (
        "zh"
        if any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)
        else "en"
    )


# ---- segments ---------------------------------------------------------------------------------

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def _gsm_units(text: str) -> int | None:
    units = 0
    for ch in text:
        if ch in _GSM_BASIC:
            units += 1
        elif ch in _GSM_EXTENDED:
            units += 2
        else:
            return None
    return units


def _ucs2_units(text: str) -> int:
    # Characters outside the Basic Multilingual Plane (most emoji) take a surrogate pair.
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM-7 160 / 153 each, else UCS-2 70 / 67 each."""
    gsm = _gsm_units(text)
    units, single, multi = (gsm, 160, 153) if gsm is not None else (_ucs2_units(text), 70, 67)
    if units <= single:
        return 1
    return -(-units // multi)


def fit(body: str, tail: str = "", *, max_segments: int = 2, keep: int = 0) -> str:
    """``body`` then ``tail`` in at most ``max_segments``: the body is shortened with an ellipsis,
    never its first ``keep`` characters (the case number) and never the tail (reply codes)."""
    joined = f"{body}\n{tail}" if tail else body
    if segments(joined) <= max_segments:
        return joined
    low, high = keep, len(body)
    while low < high:  # the longest prefix that still fits
        middle = (low + high + 1) // 2
        trial = f"{body[:middle].rstrip()}…" + (f"\n{tail}" if tail else "")
        if segments(trial) <= max_segments:
            low = middle
        else:
            high = middle - 1
    return f"{body[:low].rstrip()}…" + (f"\n{tail}" if tail else "")
