"""Where SMS may go: the country calling code an E.164 number starts with, and the countries an
operator allows (docs/reference.md §7, ``SMS_COUNTRIES``). Pure: no I/O, stdlib only."""

from __future__ import annotations

import re

E164 = re.compile(r"\+[1-9]\d{6,14}")


def _codes(listed: str) -> frozenset[str]:
    return frozenset(listed.split())


# The country calling codes in service (ITU-T E.164, as libphonenumber lists them, non-geographic
# ones such as 800 and 882 included). They form a prefix code: no code begins another, so a
# number starts with at most one of them and trying one, two, then three digits finds it.
_ONE_DIGIT = _codes("1 7")
_TWO_DIGITS = _codes(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58"
    " 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98"
)
_THREE_DIGITS = _codes(
    "211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236"
    " 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258"
    " 260 261 262 263 264 265 266 267 268 269 290 291 297 298 299"
    " 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 376 377 378 380 381 382"
    " 383 385 386 387 389 420 421 423"
    " 500 501 502 503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599"
    " 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686 687 688 689 690 691 692"
    " 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888"
    " 960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979"
    " 992 993 994 995 996 998"
)
CALLING_CODES = _ONE_DIGIT | _TWO_DIGITS | _THREE_DIGITS


def calling_code(number: str) -> str | None:
    """The country calling code ``number`` (E.164, ``+`` and digits) starts with:
    ``+447700900123`` → ``44``, ``+85291234567`` → ``852``; None when it is no E.164 number or
    its prefix is assigned to no country."""
    if not E164.fullmatch(number):
        return None
    digits = number[1:]
    for size in (1, 2, 3):
        if digits[:size] in CALLING_CODES:
            return digits[:size]
    return None


def allowed_codes(setting: str, sender: str | None) -> frozenset[str]:
    """The calling codes SMS may go to: those listed in ``setting`` (``SMS_COUNTRIES``, codes
    separated by commas), else the country of the number we send from; empty when neither says
    (a messaging service without ``SMS_COUNTRIES``): then nothing may be sent."""
    listed = frozenset(c.strip().lstrip("+") for c in setting.split(",") if c.strip())
    if listed:
        return listed
    own = calling_code(sender) if sender else None
    return frozenset({own}) if own else frozenset()


def may_text(number: str, codes: frozenset[str]) -> bool:
    """True when ``number`` is in one of the countries of ``codes``."""
    code = calling_code(number)
    return code is not None and code in codes
