"""The case page's actions in the order a reader is likely to need them, with one sentence on why
the first is first: nobody holds it → reassign; past its deadline → reassign (staff) or act now
(its holder); waiting for the resident → their rating, or close it. The services still decide
whether an action is allowed; this only orders the forms they allow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.texts import render

# The forms of the case page, in their usual order ("merge" is the merge form).
ORDER = ("acknowledge", "resolve", "reassign", "decline", "ask", "merge", "reject", "close")
_WAITING = ("unassigned", "assigned")  # an acknowledgement is due; after it, a resolution


@dataclass(frozen=True, slots=True)
class Plan:
    """The forms to show, the likely next first, and why (in the reader's language)."""

    order: tuple[str, ...]
    first: str  # the form advised, or ""
    advice: str  # one sentence, or ""


def deadline(case: dict[str, Any]) -> str | None:
    """The due time that counts now (ISO): acknowledge while waiting for it, else resolve."""
    key = {"acknowledged": "resolve_due_at"}.get(case["status"], "ack_due_at")
    due = case[key] if case["status"] in (*_WAITING, "acknowledged") else None
    return due if isinstance(due, str) else None


def plan(
    case: dict[str, Any], actions: tuple[str, ...], *, may_merge: bool, now: datetime, language: str
) -> Plan:
    """What ``case``'s reader, who may take ``actions``, likely does next."""
    shown = tuple(a for a in ORDER if a in actions or (a == "merge" and may_merge))
    due = deadline(case)
    late = due is not None and datetime.fromisoformat(due) < now
    when = due[:16].replace("T", " ") if due else ""
    status = case["status"]
    first, key = "", ""
    if "reassign" in shown and status == "unassigned":
        first, key = "reassign", "web.next_unassigned"
    elif "acknowledge" in shown:
        first, key = "acknowledge", "web.next_acknowledge_late" if late else "web.next_acknowledge"
    elif "resolve" in shown:
        first, key = "resolve", "web.next_resolve_late" if late else "web.next_resolve"
    elif "reassign" in shown and late:
        first, key = "reassign", "web.next_overdue"
    elif status == "resolved":
        first, key = ("close" if "close" in shown else ""), "web.next_wait_rating"
    elif status in ("assigned", "acknowledged"):
        key = "web.next_wait_holder"
    order = (first, *(a for a in shown if a != first)) if first else shown
    advice = render(language, key, due=when) if key else ""
    return Plan(order=order, first=first, advice=advice)
