"""The case list's filters and views as a URL gives them: each field bounded, anything malformed
dropped; and the same filters back as query parameters (the pages' links, the export's)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from core.cases import Status
from core.clean import clean

MAX_SEARCH = 100
_KEY = re.compile(r"[0-9A-Za-z_.:+-]*")
MAX_PAGE = 10_000
VIEWS = ("mine", "unassigned", "escalated")  # the list's one-click views (cases.html says how)
SORTS = ("due",)  # besides the default: overdue first, then the newest


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list is narrowed to; every field comes from a URL and is bounded here."""

    status: str = ""  # empty: the open ones
    category: str = ""
    community: str = ""
    holder: str = ""
    overdue: bool = False
    reopened: bool = False
    escalated: bool = False
    text: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1
    view: str = ""  # one of VIEWS, or every case the other filters match
    sort: str = ""  # one of SORTS, or the default order
    # The page's place by key (listing.py reads them): the page after the row ``after`` names,
    # or the one before the row ``before`` names; neither, the first page. ``page`` is its label.
    after: str = ""
    before: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Filters from query parameters; anything malformed is dropped, not an error."""
        status = params.get("status", "")
        return cls(
            status=status if status in {s.value for s in Status} | {"all"} else "",
            category=_word(params.get("category", "")),
            community=_word(params.get("community", "")),
            holder=_word(params.get("holder", "")),
            overdue=params.get("overdue") == "1",
            reopened=params.get("reopened") == "1",
            escalated=params.get("escalated") == "1",
            text=clean(params.get("q", ""))[:MAX_SEARCH],
            since=_day(params.get("since", "")),
            until=_day(params.get("until", "")),
            page=_page(params.get("page", "")),
            view=params.get("view", "") if params.get("view") in VIEWS else "",
            sort=params.get("sort", "") if params.get("sort") in SORTS else "",
            after=_key(params.get("after", "")),
            before=_key(params.get("before", "")),
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters (with ``changes``) as query parameters, empty ones left out."""
        values = replace(self, **changes)
        found = {
            "status": values.status,
            "category": values.category,
            "community": values.community,
            "holder": values.holder,
            "overdue": "1" if values.overdue else "",
            "reopened": "1" if values.reopened else "",
            "escalated": "1" if values.escalated else "",
            "q": values.text,
            "since": values.since.isoformat() if values.since else "",
            "until": values.until.isoformat() if values.until else "",
            "page": str(values.page) if values.page > 1 else "",
            "view": values.view,
            "sort": values.sort,
            "after": values.after,
            "before": values.before,
        }
        return {k: v for k, v in found.items() if v}


def _word(value: str) -> str:
    """An id from a URL: short, printable, or nothing."""
    value = value.strip()
    return value if len(value) <= 64 and value.isprintable() else ""


def _key(value: str) -> str:
    """A row's sort key from a URL: short, of the characters a key is written with, or nothing."""
    return value if len(value) <= 64 and _KEY.fullmatch(value) else ""


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _page(value: str) -> int:
    return min(int(value), MAX_PAGE) if value.isascii() and value.isdigit() and value != "0" else 1
