"""Inbound text made safe to store and show: one normaliser for every channel, a cap for long
descriptions, and an escaped form of stored text for a terminal."""

from __future__ import annotations

import unicodedata

MAX_DESCRIPTION = 1000

# Bidi embeddings, overrides and isolates reorder what follows them (a reversed description is a
# known spoofing trick); the implicit marks and the Arabic letter mark do the same more quietly.
_BIDI = frozenset(
    [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\u200e", "\u200f"]
) | {"\u061c"}
# Invisible characters: zero-width space and non-joiner, word joiner and the invisible operators,
# the deprecated format characters, the byte-order mark, the Mongolian vowel separator.
_INVISIBLE = frozenset(
    ["\u200b", "\u200c", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064", "\ufeff", "\u180e"]
) | frozenset(map(chr, range(0x206A, 0x2070)))
_ZWJ = "\u200d"
_KEPT_CONTROLS = frozenset("\n\t")
_NEWLINES = str.maketrans({"\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"})


def clean(text: str) -> str:
    """``text`` as it is stored: NFC; no control character but newline and tab; no bidi control,
    zero-width or lone surrogate; no whitespace at either end."""
    text = text.replace("\r\n", "\n").translate(_NEWLINES)
    kept = [ch for ch in text if not _dropped(ch)]
    out = "".join(ch for i, ch in enumerate(kept) if ch != _ZWJ or _joins_emoji(kept, i))
    # NFC after the removals: a control between a letter and its accent no longer parts them.
    return unicodedata.normalize("NFC", out).strip()


def _dropped(ch: str) -> bool:
    if ch in _BIDI or ch in _INVISIBLE:
        return True
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in _KEPT_CONTROLS) or category == "Cs"


def _joins_emoji(chars: list[str], i: int) -> bool:
    """A zero-width joiner between two pictographs builds one emoji (a family): it stays."""
    if i == 0 or i + 1 >= len(chars):
        return False
    before, after = chars[i - 1], chars[i + 1]
    return _pictograph(before) and _pictograph(after)


def _pictograph(ch: str) -> bool:
    return ch == "\ufe0f" or ch == "\u2640" or ch == "\u2642" or unicodedata.category(ch) == "So"


def cap(text: str, limit: int = MAX_DESCRIPTION) -> tuple[str, bool]:
    """At most ``limit`` characters of ``text`` (never half a surrogate pair: str is code points)
    and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip(), True


def describes(text: str) -> bool:
    """Whether a one-message report says anything: a letter or a digit (not only emoji or
    punctuation, which is a reaction rather than a report)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def printable(text: str) -> str:
    """``text`` for a terminal: every control, bidi, zero-width and line-separator character
    written as ``\\uXXXX`` (valid inside JSON too), newline and tab kept."""
    return "".join(_escaped(ch) for ch in text) if not text.isascii() or _has_c0(text) else text


def _has_c0(text: str) -> bool:
    return any((ch < " " and ch not in _KEPT_CONTROLS) or ch == "\x7f" for ch in text)


def _escaped(ch: str) -> str:
    if ch in _KEPT_CONTROLS:
        return ch
    if ch in _BIDI or ch in _INVISIBLE or ch == _ZWJ or unicodedata.category(ch) in _UNSAFE:
        return _u_escape(ord(ch))
    return ch


def _u_escape(code: int) -> str:
    """``\\uXXXX``; past the BMP a UTF-16 surrogate pair of them (JSON has no ``\\U``)."""
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# Controls, surrogates, line and paragraph separators; format characters (Cf) other than those
# named above are escaped too: a terminal has no use for them.
_UNSAFE = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf"})
