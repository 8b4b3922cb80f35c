"""Message catalogs: every text a person reads, in Chinese (the default) and English."""

from __future__ import annotations

import string
from typing import Any

from core.texts import en, zh

LANGUAGES = ("zh", "en")
CATALOGS: dict[str, dict[str, str]] = {"zh": zh.TEXTS, "en": en.TEXTS}


def normalize_language(code: str | None) -> str | None:
    """Map a language tag (``zh-hans``, ``en-US``, ``zh``) to a catalog, or None."""
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in CATALOGS else None


def render(language: str, key: str, **params: Any) -> str:
    """The text ``key`` in ``language`` (falling back to Chinese), filled with ``params``."""
    catalog = CATALOGS.get(language, CATALOGS["zh"])
    return catalog[key].format(**params)


def placeholders(template: str) -> frozenset[str]:
    """The names a template expects."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)
