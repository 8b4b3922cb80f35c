"""The one-message questions some buttons ask — why not satisfied, why rejected or closed, to whom
to reassign — and what their answer does. The question waits in a draft like the guided report.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from core.cases import Action, Channel, Rating, Refusal, apply
from db import queries
from db.models import Case, Draft, Person

from . import drafts
from .announce import both, state_of
from .context import Actor, Inbound, ServiceContext, ServiceRefusal, Unit, unit_of_work
from .lifecycle import Request, act_in
from .notify import Outbox
from .parties import load_parties

_ASKING = {Action.RATE: "rate_reason", Action.REJECT: "reject_reason", Action.CLOSE: "close_reason"}
_DUPLICATE = re.compile(r"#?\s*(\d{1,12})")


# ---- one-message questions --------------------------------------------------------------------


async def ask_before(
    ctx: ServiceContext,
    *,
    person_id: str,
    channel: Channel,
    number: int,
    action: Action,
    inbound: Inbound | None = None,
) -> None:
    """A button whose action needs more: check it is allowed now, then ask for what is missing
    (the reason for "not satisfied", reject or close; the new manager for reassign)."""
    async with unit_of_work(ctx, inbound) as unit:
        person = await drafts.person_in(unit, person_id)
        case, refusal = await _trial(unit, person, number, action)
        if refusal is not None:
            raise refusal
        assert case is not None
        flow_name = _ASKING.get(action, "reassign")
        data: dict[str, Any] = {"number": number}
        buttons: list[list[dict[str, str]]] = []
        if action is Action.REASSIGN:
            managers = await _managers(unit, community=case.community_id, exclude=case.manager_id)
            data["managers"] = [m.id for m in managers]
            buttons = _manager_buttons(list(enumerate(managers)))
        elif action is Action.RATE:
            buttons = [
                [{"key": "button.flow.no_reason", "data": f"{drafts.PREFIX}{flow_name}:skip"}]
            ]
        buttons.append([{"key": "button.flow.abandon", "data": f"{drafts.PREFIX}{flow_name}:x"}])
        await drafts.keep(
            unit, channel=channel, person_id=person.id, flow=flow_name, step=flow_name, data=data
        )
        template = {
            "rate_reason": "flow.ask_rate_reason",
            "reject_reason": "flow.ask_reject_reason",
            "close_reason": "flow.ask_reject_reason",
            "reassign": "flow.ask_reassign",
        }[flow_name]
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, template, key=drafts.key_of(unit, inbound), params=data, buttons=buttons
        )


def _manager_buttons(managers: list[tuple[int, Person]]) -> list[list[dict[str, str]]]:
    """A button per manager (by their index in the offer), two a row."""
    return [
        [{"label": m.name, "data": f"{drafts.PREFIX}reassign:{i}"} for i, m in pair]
        for pair in drafts.pairs(managers)
    ]


async def _ask_reassign(
    unit: Unit, person: Person, number: int, manager_ids: list[str], *, key: str, reask: bool
) -> None:
    """Ask again to whom case ``number`` goes, with the buttons of the managers offered before."""
    offered = [(i, await unit.session.get(Person, m)) for i, m in enumerate(manager_ids)]
    buttons = _manager_buttons([(i, m) for i, m in offered if m is not None])
    buttons.append([{"key": "button.flow.abandon", "data": f"{drafts.PREFIX}reassign:x"}])
    await Outbox(unit.session, unit.now, unit.default_language).ask(
        person,
        "flow.ask_reassign",
        key=key,
        params={"number": number},
        buttons=buttons,
        reask=reask,
    )


async def _managers(unit: Unit, *, community: str, exclude: str | None) -> list[Person]:
    """Who a case may go to: the managers and supervisors of its community (by the directory or
    by a routing rule for it); everyone who manages, when the directory names none there."""
    query = (
        select(Person)
        .where(col(Person.active), col(Person.role).in_(("manager", "supervisor")))
        .order_by(col(Person.role), col(Person.id))
    )
    everyone = [p for p in (await unit.session.exec(query)).all() if p.id != exclude]
    routed = {
        r.manager_id for r in await queries.routes(session=unit.session) if r.community == community
    }
    local = [p for p in everyone if p.community_id == community or p.id in routed]
    return local or everyone


async def answered(
    unit: Unit, person: Person, row: Draft, *, text: str | None, choice: str | None, key: str
) -> None:
    number = int(row.data["number"])
    parsed = drafts.parse_choice(choice) if choice else None
    if parsed is not None and (parsed[0] != row.flow or parsed[1] == "x"):
        await unit.session.delete(row)
        if parsed[1] == "x":
            await Outbox(unit.session, unit.now, unit.default_language).ask(
                person, "tg.done", key=key
            )
        return
    note = (text or "").strip()
    actor = Actor(person.id, Channel(row.chat.split(":")[0]))
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
        case _:
            managers = row.data.get("managers", [])
            index = int(parsed[1]) if parsed and parsed[1].isdigit() else -1
            if not 0 <= index < len(managers):
                # free text where a manager must be chosen: the same buttons again, gently
                await _ask_reassign(unit, person, number, managers, key=key, reask=True)
                return
            request = Request(Action.REASSIGN, manager_id=managers[index])
    await unit.session.delete(row)
    overtaken = await _overtaken(unit, person, number, request.action)
    if overtaken is not None:
        # The case moved on since the question was asked: it no longer stands; say why.
        await Outbox(unit.session, unit.now, unit.default_language).ask(
            person, overtaken.reason, key=key, params=overtaken.params
        )
        return
    await act_in(unit, number=number, actor=actor, request=request)


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
