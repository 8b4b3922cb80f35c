"""Who hears of each event, and with which message: one table, read by every use case."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from bot.services.cases import cards, updates
from bot.services.cases.parties import Parties
from bot.services.cases.photos import event_photos
from bot.services.cases.scene import Scene, state_of
from bot.services.unit.outbox import Outbox
from core.access import is_city
from core.buttons import Button, buttons_for
from core.cases import EventKind, Status
from db import queries
from db.models import CaseEvent, Person

# Audiences: "resident"; "resident_closed" (only when the case is now closed); "manager" (the
# manager after the change), "manager_closed" (likewise, once closed); "previous_manager" (the
# one who no longer holds it); "staff";
# "holders" (who holds it at its escalation level); "escalation_holders" (holders above level 0);
# "followers", "followers_closed" (likewise, once closed); "actor" (the follower who acted).
ANNOUNCEMENTS: dict[EventKind, tuple[tuple[str, str], ...]] = {
    EventKind.REPORTED: (("resident", "case.received"),),
    EventKind.ROUTED: (("manager", "case.card"),),
    EventKind.UNROUTED: (("staff", "case.unrouted"),),
    EventKind.ACKNOWLEDGED: (
        ("resident", "case.acknowledged"),
        ("followers", "case.f_acknowledged"),
    ),
    EventKind.RESOLVED: (("resident", "case.resolved"), ("followers", "case.f_resolved")),
    EventKind.DECLINED: (("staff", "case.declined"),),
    # A "not satisfied" is told to the manager by the reopen message, with its reason.
    EventKind.RATED: (
        ("manager_closed", "case.rated"),
        ("resident_closed", "case.closed"),
        ("followers_closed", "case.f_closed"),
    ),
    EventKind.REOPENED: (
        ("resident", "case.reopened_resident"),
        ("followers", "case.f_reopened"),
        ("manager", "case.reopened"),
        ("escalation_holders", "case.escalated"),
    ),
    # Following (docs/reference.md §4): the follower is told; the holder's card counts them.
    EventKind.FOLLOWED: (("actor", "case.f_following"),),
    EventKind.FEEDBACK: (("actor", "case.f_feedback_thanks"), ("holders", "case.feedback")),
    EventKind.COMMENTED: (("actor", "case.f_comment_added"), ("holders", "case.commented")),
    # A merge: B's people are told A carries it on, A's holder how many it now concerns.
    EventKind.MERGED: (
        ("resident", "case.merged"),
        ("followers", "case.merged"),
        ("previous_manager", "case.withdrawn"),
    ),
    EventKind.MERGED_IN: (("holders", "case.merged_in"),),
    EventKind.UNMERGED: (
        ("resident", "case.unmerged"),
        ("followers", "case.unmerged"),
        ("manager", "case.card"),
    ),
    EventKind.REASSIGNED: (
        ("previous_manager", "case.withdrawn"),
        ("manager", "case.card"),
        ("resident", "case.reassigned_resident"),
    ),
    EventKind.REJECTED: (
        ("resident", "case.rejected"),
        ("followers", "case.f_rejected"),
        ("previous_manager", "case.withdrawn"),
    ),
    EventKind.CLOSED: (
        ("resident", "case.closed_by_staff"),
        ("followers", "case.f_closed"),
        ("previous_manager", "case.withdrawn"),
    ),
    EventKind.CANCELLED: (
        ("resident", "case.cancelled"),
        ("followers", "case.f_cancelled"),
        ("previous_manager", "case.cancelled_manager"),
    ),
    EventKind.ESCALATED: (("holders", "case.escalated"), ("resident", "case.escalated_resident")),
    EventKind.REMINDED: (("holders", "case.reminder"),),
    EventKind.NUDGED: (("resident", "case.nudge"),),
    # A question to the reporter; the answer goes to whoever asked (``inquiry``), not from here.
    EventKind.ASKED: (("resident", "case.asked"),),
    EventKind.FIX_PHOTO: (("resident", "case.fix_photo"), ("followers", "case.fix_photo")),
    # The city's note (Open311): for whoever holds the case now.
    EventKind.INFORMED: (("holders", "case.informed"),),
    EventKind.CLOSED_UNRATED: (
        ("resident", "case.closed_unrated"),
        ("followers", "case.f_closed"),
    ),
}


# What the city's own steps say instead (Open311 updates it POSTed): "closed by the city", not
# by staff; "sent back by the city", not "the resident is not satisfied".
_BY_CITY = {
    "case.closed_by_staff": "case.closed_by_city",
    "case.reopened": "case.reopened_by_city",
    "case.reopened_resident": "case.reopened_by_city",
}
# The messages that bring a case to someone who must act on it: they carry its photos.
WITH_PHOTOS = frozenset({"case.card", "case.unrouted", "case.escalated"})
# The messages that carry the photos their own event brought: the fix's to the resident and
# followers with the rating question, a follower's or the reporter's to whoever needs them.
WITH_EVENT_PHOTOS = frozenset(
    {"case.resolved", "case.resolved_note", "case.f_resolved", "case.fix_photo"}
    | {"case.commented", "case.answered"}
)
# News about the crowd around a case, not a step to act on: no buttons (the holder's card has
# them), so ten followers do not make ten more cards to keep up to date.
WITHOUT_BUTTONS = frozenset(
    {"case.feedback", "case.commented", "case.merged_in", "case.f_following"}
    | {"case.f_feedback_thanks", "case.f_comment_added", "case.asked", "case.fix_photo"}
    | {"case.informed"}
)


def _audience(
    name: str, scene: Scene, event: CaseEvent, before: Parties | None, after: Parties
) -> Iterable[Person]:
    case = scene.case
    match name:
        case "followers":
            return after.followers
        case "followers_closed":
            return after.followers if case.status == Status.CLOSED else ()
        case "actor":
            if event.data and event.data.get("with_follow"):
                return []  # a note given as they began to follow: "you follow it" says enough
            return [p for p in after.followers if p.id == event.actor_id]
        case "resident":
            return [after.resident] if after.resident else []
        case "resident_closed":
            closed = case.status == Status.CLOSED
            return [after.resident] if closed and after.resident else []
        case "manager":
            return [after.manager] if after.manager else []
        case "manager_closed":
            closed = case.status == Status.CLOSED
            return [after.manager] if closed and after.manager else []
        case "previous_manager":
            old = before.manager if before else None
            still_holds = (
                after.manager is not None and old is not None and old.id == after.manager.id
            )
            if old is None or (still_holds and Status(case.status).is_open):
                return []
            return [old]
        case "staff":
            return after.staff
        case "holders":
            return after.holders(case.escalation_level, scene.chain)
        case "escalation_holders":
            return (
                after.holders(case.escalation_level, scene.chain) if case.escalation_level else []
            )
    raise ValueError(f"unknown audience {name!r}")


@dataclass(frozen=True, slots=True)
class Told:
    """One message an event calls for: to whom, which template, with what."""

    person: Person
    template: str
    key: str
    params: dict[str, Any]
    buttons: list[list[Button]]
    urgent: bool
    photos: tuple[int, ...] = ()  # positions of the case's photos it carries


def told(
    scene: Scene, events: Iterable[CaseEvent], *, before: Parties | None, after: Parties
) -> list[Told]:
    """Every message the events call for (the table above), each person's buttons derived from
    the state: what ``announce`` queues, and what the writer's hot paths insert."""
    state = state_of(scene.case)
    number = scene.case.number
    assert number is not None
    found: list[Told] = []
    for event in events:
        params = scene.params(event)
        if event.kind == EventKind.ASKED.value:
            params = params | {"who": _name_of(event.actor_id, after)}
        for audience, template in ANNOUNCEMENTS.get(EventKind(event.kind), ()):
            if template == "case.resolved" and event.note:
                template = "case.resolved_note"  # the manager's word on the fix goes with it
            template = _BY_CITY.get(template, template) if is_city(event.actor_id) else template
            for person in _audience(audience, scene, event, before, after):
                buttons = (
                    []
                    if template in WITHOUT_BUTTONS
                    else buttons_for(state, after.relations(person.id), number)
                )
                key = f"case:{number}:event:{event.id}"
                photos = _photos_for(template, scene, event)
                found.append(Told(person, template, key, params, buttons, scene.urgent, photos))
    return found


def _name_of(person_id: str | None, parties: Parties) -> str:
    """Who acted, by the name the directory gives them (a question says who asks it)."""
    return next((p.name for p in parties.everyone if p.id == person_id), "-")


def _photos_for(template: str, scene: Scene, event: CaseEvent) -> tuple[int, ...]:
    """The photos a message carries: all the case's on a card, its event's own on news of it."""
    if template in WITH_PHOTOS:
        return tuple(range(scene.photos))
    if template in WITH_EVENT_PHOTOS:
        return event_photos(event)
    return ()


async def announce(
    outbox: Outbox,
    scene: Scene,
    events: Iterable[CaseEvent],
    *,
    before: Parties | None,
    after: Parties,
) -> None:
    """Queue every message the events call for; then bring the cards sent before up to date, so
    no button outlives its use."""
    number = scene.case.number
    assert number is not None
    events = list(events)
    if any(t in WITH_PHOTOS for e in events for _, t in ANNOUNCEMENTS.get(EventKind(e.kind), ())):
        kept = await queries.case_photos(session=outbox.session, number=number)
        scene = replace(scene, photos=len(kept))
    # A case just reported (nobody stood in any relation before) has sent nothing yet.
    earlier = await cards.sent(outbox, number) if before is not None else []
    await outbox.know(p.id for p in after.everyone)
    for one in told(scene, events, before=before, after=after):
        await outbox.tell(
            one.person,
            one.template,
            key=one.key,
            case=scene.case,
            params=one.params,
            buttons=one.buttons,
            urgent=one.urgent,
            photos=one.photos,
        )

    await updates.queue(outbox, scene.case, events)  # a city that filed it hears the steps
    if earlier and events:
        await cards.refresh(
            outbox, scene, earlier, after, key=f"case:{number}:event:{events[-1].id}"
        )
