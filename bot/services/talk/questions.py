"""The one-message questions, for every channel: why not satisfied, why rejected or closed, to
whom to reassign, which community a report is from, which case a rating means, whether a report
is an open case to follow (``follow``), which reply goes with "已办好" (``resolving``) — and what
their answer does. The question waits in a draft like the guided report (``asking``).
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, or_, select

from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.parties import load_parties
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, category_for, open_case
from bot.services.cases.routing import managers_for
from bot.services.cases.scene import both, state_of
from bot.services.talk import drafts, follow, resolving
from bot.services.talk.asking import ASK_RESIDENT, ask
from bot.services.unit.context import ServiceContext, ServiceRefusal, Unit
from bot.services.unit.inbound import Inbound
from bot.services.unit.reach import language_of
from bot.services.unit.work import unit_of_work
from core.buttons import Button
from core.cases import Action, Rating, Refusal, Status, apply
from db import queries
from db.directory_cache import directory
from db.models import Case, CaseFollower, Draft, Person

_ASKING = {
    Action.RATE: "rate_reason",
    Action.REJECT: "reject_reason",
    Action.CLOSE: "close_reason",
    Action.ASK: ASK_RESIDENT,
}
_DUPLICATE = re.compile(r"#?\s*(\d{1,12})")


async def ask_before(ctx: ServiceContext, inbound: Inbound, *, number: int, action: Action) -> None:
    """A button whose action needs more: check it is allowed now, then ask for what is missing
    (the reason for "not satisfied", reject or close; the new manager for reassign; the note of
    "已办好" among the category's replies — resolved at once when it has none)."""
    async with unit_of_work(ctx, inbound) as unit:
        await ask_before_in(unit, number=number, action=action)


async def ask_before_in(unit: Unit, *, number: int, action: Action) -> None:
    """``ask_before`` within the inbound's unit of work."""
    person = unit.active_sender()
    case, refusal = await _trial(unit, person, number, action)
    if refusal is not None:
        raise refusal
    assert case is not None
    if action is Action.RESOLVE:  # the category's replies are offered first, when it has any
        await resolving.ask_or_resolve(unit, person, case)
        return
    flow = _ASKING.get(action, "reassign")
    data: dict[str, Any] = {"number": number}
    if action is Action.REASSIGN:
        # The same rule the reassignment is checked against: only whom it may go to is offered.
        managers = await managers_for(unit, community=case.community_id, exclude=case.manager_id)
        if not managers:
            raise ServiceRefusal("refused.nobody_to_reassign", {"number": number})
        data["managers"] = [m.id for m in managers]
        await ask(unit, person, flow, data, labels=[m.name for m in managers])
        return
    extra = [Button("button.flow.no_reason", f"{drafts.PREFIX}{flow}:skip")]
    await ask(unit, person, flow, data, extra=extra if action is Action.RATE else [])


async def ask_community(unit: Unit, person: Person, text: str, *, reask: bool = False) -> None:
    """Which community a report written as free text is from (the number texted named none)."""
    communities = (await directory(unit.session)).active_communities()
    english = person.language == "en"
    labels = [c.name_en if english else c.name_zh for c in communities]
    data = {"text": text, "communities": [c.id for c in communities]}
    await ask(unit, person, "community", data, labels=labels, reask=reask)


async def offer_or_open(unit: Unit, person: Person, new: NewReport, *, again: bool = False) -> None:
    """A one-message report: the open cases it may be are offered to follow instead (the
    ``follow`` question; ``again`` after an answer that was none); with none, its case opens."""
    found = await follow.offered(unit, person, new)
    if not found:
        await open_case(unit, resident_id=person.id, channel=unit.actor().channel, new=new)
        return
    assert unit.inbound is not None
    plain = unit.channels.plain_text(unit.inbound.channel)
    language = language_of(person, unit.default_language)
    shown = follow.offer(found, language, unit.now, plain=plain)
    data = follow.kept(new, shown.cases)
    extra = [Button("button.follow.new", f"{drafts.PREFIX}{follow.FLOW}:{len(shown.cases)}")]
    # Numbered, the question says how to answer it; "press the buttons" is for buttons.
    reask = again and not plain
    await ask(
        unit,
        person,
        follow.FLOW,
        data,
        labels=shown.labels,
        extra=extra,
        reask=reask,
        numbered=shown.lines,
    )


async def rate(unit: Unit, *, rating: Rating, number: int | None, reason: str) -> None:
    """A rating written as text: for case ``number``, else the one case waiting for it (asking
    which when several are); "not satisfied" without a reason asks why first."""
    person = unit.active_sender()
    if number is None:
        waiting = await _waiting(unit, person)
        if not waiting:
            raise ServiceRefusal("sms.nothing_to_rate")
        if len(waiting) > 1:
            data = {"cases": waiting, "rating": rating.code, "reason": reason}
            await ask(unit, person, "which_case", data, labels=[f"#{n}" for n in waiting])
            return
        number = waiting[0]
    else:
        # A case named in the text: someone else's is answered as one that does not exist, so a
        # guessed number tells nothing.
        named = await queries.get_case(session=unit.session, number=number)
        followers = await queries.follower_ids(session=unit.session, number=number) if named else []
        if named is None or person.id not in (named.resident_id, *followers):
            raise ServiceRefusal("refused.no_case_of_yours", {"number": number})
    if rating is Rating.DISSATISFIED and not reason:
        await ask_before_in(unit, number=number, action=Action.RATE)
        return
    request = Request(Action.RATE, rating=rating, note=reason)
    await act_in(unit, number=number, actor=unit.actor(), request=request)


async def _waiting(unit: Unit, person: Person) -> list[int]:
    """The cases waiting for the person's rating, newest first: their own resolved cases, and
    the resolved cases they follow (a follower's rating is feedback; the latest one counts, so
    one given already may be changed, as the rating codes sent with its thanks offer)."""
    followed = select(CaseFollower.case_number).where(CaseFollower.person_id == person.id)
    theirs = or_(Case.resident_id == person.id, col(Case.number).in_(followed))
    query = (
        select(Case.number)
        .where(theirs, Case.status == Status.RESOLVED.value)
        .order_by(col(Case.number).desc())
        .limit(9)
    )
    return [n for n in (await unit.session.exec(query)).all() if n is not None]


async def answered(
    unit: Unit,
    person: Person,
    row: Draft,
    *,
    text: str | None,
    choice: str | None,
    photo: NewPhoto | None = None,
) -> None:
    """The answer to the question ``row`` holds: a reason, a choice, a photo of the fix, or a
    new question."""
    parsed = drafts.parse_choice(choice) if choice else None
    if parsed is not None and (parsed[0] != row.flow or parsed[1] == "x"):
        await unit.session.delete(row)
        if parsed[1] == "x":
            await unit.outbox.tell(person, "tg.done", key=unit.key("flow"))
        return
    index = int(parsed[1]) if parsed and parsed[1].isdigit() else -1
    note = (text or "").strip()
    if row.flow == "community":
        await _community_answered(unit, person, row, index, note)
        return
    if row.flow == follow.FLOW:
        await unit.session.delete(row)
        again = await follow.answered(unit, person, row.data, index, note)
        if again is not None:
            await offer_or_open(unit, person, again, again=True)
        return
    if row.flow == "which_case":
        cases: list[int] = row.data["cases"]
        if not 0 <= index < len(cases):
            raise ServiceRefusal("flow.ask_which_case_again")
        await unit.session.delete(row)
        rating = Rating.from_code(str(row.data["rating"]))
        assert rating is not None
        await rate(unit, rating=rating, number=cases[index], reason=str(row.data["reason"]))
        return
    number = int(row.data["number"])
    match row.flow:
        case "rate_reason":
            request = Request(Action.RATE, rating=Rating.DISSATISFIED, note=note)
        case "reject_reason":
            duplicate = _DUPLICATE.fullmatch(note)
            request = (
                Request(Action.REJECT, duplicate_of=int(duplicate.group(1)))
                if duplicate
                else Request(Action.REJECT, note=note)
            )
        case "close_reason":
            request = Request(Action.CLOSE, note=note)
        case resolving.FLOW:  # a reply picked (in the resident's language), "no note", or words
            said = await resolving.note_of(unit, row.data, index, note)
            fix = (photo,) if photo is not None else ()  # a photo of the fix, its caption the note
            request = Request(Action.RESOLVE, note=said, photos=fix)
        case "ask_resident":
            request = Request(Action.ASK, note=note)
        case _:
            managers = row.data.get("managers", [])
            if not 0 <= index < len(managers):
                # free text (or no such choice) where a manager must be chosen: asked again,
                # gently, offering whom the case may go to now (the directory may have changed)
                await _reask_reassign(unit, person, row, number)
                return
            request = Request(Action.REASSIGN, manager_id=managers[index])
    await unit.session.delete(row)
    overtaken = await _overtaken(unit, person, number, request.action)
    if overtaken is not None:
        # The case moved on since the question was asked: it no longer stands; say why.
        await unit.outbox.tell(
            person, overtaken.reason, key=unit.key("flow"), params=overtaken.params
        )
        return
    await act_in(unit, number=number, actor=unit.actor(), request=request)
    if request.photos:
        await resolving.keep_taking(unit, person, number)  # an album's next photos join the fix
    if request.action is Action.ASK:
        params = {"number": number}
        await unit.outbox.tell(person, "case.question_sent", key=unit.key("flow"), params=params)


async def _reask_reassign(unit: Unit, person: Person, row: Draft, number: int) -> None:
    """The reassign question again, with the choices the rule gives now; with nobody left to
    choose, the question ends and the person is told why."""
    case = await queries.get_case(session=unit.session, number=number)
    managers = (
        await managers_for(unit, community=case.community_id, exclude=case.manager_id)
        if case is not None
        else []
    )
    if not managers:
        await unit.session.delete(row)
        params = {"number": number}
        await unit.outbox.tell(
            person, "refused.nobody_to_reassign", key=unit.key("flow"), params=params
        )
        return
    data = {**row.data, "managers": [m.id for m in managers]}
    await ask(unit, person, "reassign", data, labels=[m.name for m in managers], reask=True)


async def _community_answered(
    unit: Unit, person: Person, row: Draft, index: int, text: str
) -> None:
    """A community picked for the report waiting in ``row``; anything else is a new report."""
    await unit.session.delete(row)
    communities: list[str] = row.data.get("communities", [])
    if not 0 <= index < len(communities):
        # Not one from the list: taken as a new report (and asked again where it is).
        await ask_community(unit, person, text or row.data["text"])
        return
    described = str(row.data["text"])
    new = NewReport(
        community_id=communities[index],
        category_id=await category_for(unit, described),
        description=described,
    )
    await offer_or_open(unit, person, new)


_OVERTAKEN = frozenset({"refused.closed", "refused.wrong_status", "refused.not_entitled"})


async def _overtaken(
    unit: Unit, person: Person, number: int, action: Action
) -> ServiceRefusal | None:
    """Why a question asked earlier no longer stands (the case's status or holder changed),
    or None while its answer can still be acted on."""
    case, refusal = await _trial(unit, person, number, action)
    if case is None or (refusal is not None and refusal.reason in _OVERTAKEN):
        return refusal
    return None


async def _trial(
    unit: Unit, person: Person, number: int, action: Action
) -> tuple[Case | None, ServiceRefusal | None]:
    """The case (locked) and why ``person`` may not take ``action`` on it now, if they may not
    (whatever the rating or the new manager will be)."""
    case = await queries.get_case(session=unit.session, number=number, lock=True)
    if case is None:
        return None, ServiceRefusal("refused.no_such_case", {"number": number})
    parties = await load_parties(session=unit.session, case=case)
    trial = apply(
        state_of(case),
        action,
        parties.relations(person.id),
        rating=Rating.DISSATISFIED,
        new_manager_id="-",
    )
    if isinstance(trial, Refusal):
        status = both(f"status.{case.status}")
        return case, ServiceRefusal(trial.reason, {"number": number, "status": status})
    return case, None
