"""A case's story in the reader's words: its events as sentences ("王经理 接单",
"系统 升级至物业主管", "李大爷 评价：满意"), what it sent to whom (a card's edits under the
card, each with the status it showed), channels and states by their names. Residents' names
are masked as on the reporter's page: someone met by SMS is named by their phone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.services.data.erase import is_erased
from bot.services.staff.sent import Party, Sent
from core.texts import CATALOGS, render

from .person_view import hidden_in, masked

_MARK = "\x00"  # where a sentence names another case: the page links it there


@dataclass(frozen=True, slots=True)
class Entry:
    """One event as a sentence: the text before and after the other case it names (if any)."""

    at: str  # local "YYYY-MM-DD HH:MM"
    iso: str
    kind: str
    before: str
    other: int | None
    after: str
    via: str  # "经 Telegram", or "" for the system's own steps
    note: str
    internal: bool  # an internal note: residents never see it
    photos: tuple[int, ...] = ()  # the photos it brought (a fix's, an answer's), by position


@dataclass(frozen=True, slots=True)
class EditLine:
    """One edit of a card: when, what it showed, where it stands."""

    at: str
    what: str
    state: str


@dataclass(frozen=True, slots=True)
class Line:
    """One message sent about the case, and its edits."""

    id: int
    at: str
    to: str
    channel: str
    what: str
    state: str
    edits: tuple[EditLine, ...]
    summary: str  # what its edits come to ("卡片更新 20 次，最后显示「待评价」")


def said(language: str, key: str, **params: Any) -> str:
    """The catalog's text for ``key``, or "" when it has none."""
    return render(language, key, **params) if key in CATALOGS[language] else ""


def channel_name(channel: str, language: str) -> str:
    """A channel by its name in the catalogs ("Telegram", "短信", "工作台"), else as stored."""
    return said(language, f"channel.{channel}") or channel


def person_name(person_id: str | None, people: Mapping[str, Party], language: str) -> str:
    """Whom an event or a message names: the system, an erased person, or a name with the
    addresses in it masked."""
    if person_id is None:
        return render(language, "tl.system")
    if is_erased(person_id):
        return render(language, "web.erased_person")
    party = people.get(person_id)
    return hidden_in(party.name, party.addresses) if party is not None else person_id


def entries(
    events: Sequence[Mapping[str, Any]], people: Mapping[str, Party], language: str
) -> tuple[Entry, ...]:
    """The case's events (``CaseView.case["events"]``) as sentences, oldest first; a note one
    action gave several events (rated, then reopened) is shown once."""
    found: list[Entry] = []
    for index, event in enumerate(events):
        entry = _entry(event, people, language)
        before = events[index - 1] if index else None
        same = ("at", "actor", "note")
        if before is not None and all(before.get(k) == event.get(k) for k in same):
            entry = replace(entry, note="")
        found.append(entry)
    return tuple(found)


def _entry(event: Mapping[str, Any], people: Mapping[str, Party], language: str) -> Entry:
    kind, actor, channel = event["kind"], event.get("actor"), event["channel"]
    rating, level = event.get("rating"), event.get("level")
    params = {
        "who": person_name(actor, people, language),
        "manager": person_name(event.get("manager"), people, language),
        "rating": said(language, f"rating.{rating}") or rating or "",
        "level": said(language, f"role.{level}") or level or "",
        "other": _MARK,
    }
    text = said(language, f"tl.{kind}", **params)
    if not text:  # a kind this page has no sentence for yet: who, and what it is called
        what = said(language, f"event.{kind}") or kind
        text = render(language, "tl.other", who=params["who"], what=what)
    other = event.get("other")
    if not isinstance(other, int):
        other, text = None, text.replace(_MARK, "—")
    before, _, after = text.partition(_MARK)
    own_step = actor is None and channel == "system"
    at = event["at"] or ""
    return Entry(
        at=at[:16].replace("T", " "),
        iso=at,
        kind=kind,
        before=before,
        other=other,
        after=after,
        via="" if own_step else render(language, "tl.via", channel=channel_name(channel, language)),
        note=event.get("note") or "",
        internal=bool(event.get("internal")),
        photos=tuple(p for p in event.get("photos") or () if isinstance(p, int)),
    )


def state_of(state: str, delivery: str | None, language: str) -> str:
    """Where a message stands, in words, with the provider's report when there is one."""
    ours = said(language, f"web.outbox.{state}") or state
    if not delivery:
        return ours
    return f"{ours} · {said(language, f'web.delivered.{delivery}') or delivery}"


def window_state(message: Sent, language: str) -> str:
    """Where a message stands on a channel that answers only for a while after its reader
    wrote: waiting for their next message, or not sent (and by which channel it went instead);
    "" for any other message."""
    if message.waits:
        return render(language, "web.outbox.waits_reply")
    if not message.window_closed:
        return ""
    closed = render(language, "web.outbox.window_closed")
    if message.went_by is None:
        return closed
    instead = render(
        language, "web.outbox.went_by", channel=channel_name(message.went_by, language)
    )
    return f"{closed} · {instead}"


def lines(sent: Sequence[Sent], people: Mapping[str, Party], language: str) -> tuple[Line, ...]:
    """What was sent to whom, one line per message, a card's edits under it."""
    return tuple(_line(m, people, language) for m in sent)


def _line(message: Sent, people: Mapping[str, Party], language: str) -> Line:
    edits = tuple(
        EditLine(
            at=e.at,
            what=(
                render(language, "web.edit_showed", status=render(language, f"status.{e.shows}"))
                if e.shows
                else render(language, "web.edit_plain")
            ),
            state=state_of(e.state, e.delivery_status, language),
        )
        for e in message.edits
    )
    last = message.last_shown
    summary = ""
    if edits and last:
        status = render(language, f"status.{last}")
        summary = render(language, "web.edits_summary", count=len(edits), status=status)
    elif edits:
        summary = render(language, "web.edits_count", count=len(edits))
    return Line(
        id=message.id,
        at=message.at,
        to=_recipient(message, people, language),
        channel=channel_name(message.channel, language),
        what=message.excerpt or render(language, "web.outbox_album"),
        state=window_state(message, language)
        or state_of(message.state, message.delivery_status, language),
        edits=edits,
        summary=summary,
    )


def _recipient(message: Sent, people: Mapping[str, Party], language: str) -> str:
    """Whom a message went to, with their role: "王经理（物业负责人）"."""
    if message.person_id is None:
        return masked(message.address)
    name = person_name(message.person_id, people, language)
    party = people.get(message.person_id)
    role = said(language, f"role.{party.role}") if party is not None else ""
    if not role or is_erased(message.person_id):
        return name
    return render(language, "web.name_role", name=name, role=role)
