"""POST servicerequestupdates: a city's update of a request, as FixMyStreet's client posts it
(form-encoded: ``update_id``, ``service_request_id``, ``status``, ``description``; its
``updated_datetime``, ``media_url`` and the poster's name and email are not used). CLOSED closes
the case, OPEN or REOPEN takes a resolved or closed one back, anything else is a note for its
holder (``city_action`` in ``bot.services.cases.updates``) — each through the use case every
actor's steps go through, by the key as a city (``core.access``), once per (key, ``update_id``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.services.cases.lifecycle import Request, act
from bot.services.cases.updates import UpdateStatus, city_action
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import AlreadyHandled, Inbound
from core.access import city_actor
from core.cases import Action, Status
from core.texts import render as say
from db import open311 as store
from db import queries

from ..errors import Problem
from ..filing import CHANNEL
from ..form import MAX_DESCRIPTION
from ..keys import Key
from ..params import case_number

MAX_UPDATE_ID = 50  # with the key's id it names the receipt (64 characters)
ACTOR_ID = 64  # the width of an event's actor column, which holds the key's name


@dataclass(frozen=True, slots=True)
class CityUpdate:
    """A city's update as posted: its own id for it, the case, the status, its words."""

    update_id: str
    number: int
    status: UpdateStatus
    description: str


def read_update(form: Mapping[str, str]) -> CityUpdate:
    """The update ``form`` posts; a 400 naming the field that is missing or wrong."""

    def field(name: str) -> str:
        value = form.get(name, "").strip()
        if not value:
            raise Problem(400, "open311.err.field_missing", {"field": name})
        return value

    update_id = field("update_id")
    if len(update_id) > MAX_UPDATE_ID:
        raise Problem(400, "open311.err.too_long", {"field": "update_id", "limit": MAX_UPDATE_ID})
    text = field("service_request_id")
    number = case_number(text)
    if number is None:
        raise Problem(404, "open311.err.request_unknown", {"id": text[:20]})
    raw = field("status")
    try:
        status = UpdateStatus(raw.upper())
    except ValueError:
        params = {"field": "status", "value": raw[:80]}
        raise Problem(400, "open311.err.bad_value", params) from None
    description = form.get("description", "").strip()
    if len(description) > MAX_DESCRIPTION:
        limit = MAX_DESCRIPTION
        raise Problem(400, "open311.err.too_long", {"field": "description", "limit": limit})
    return CityUpdate(update_id, number, status, description)


async def post_update(ctx: ServiceContext, update: CityUpdate, key: Key, language: str) -> str:
    """Apply ``update`` by the city holding ``key``: our id for it (the last event it made; the
    same for a replay). A request of a community the key does not cover answers as one that does
    not exist, and nothing changes."""
    actor = Actor(city_actor(key.name), CHANNEL)
    if len(actor.person_id or "") > ACTOR_ID:
        raise Problem(403, "open311.err.key_name_long", {"limit": ACTOR_ID - len(city_actor(""))})
    unknown = Problem(404, "open311.err.request_unknown", {"id": str(update.number)})
    async with ctx.db.reading() as session:
        case = await queries.get_case(session=session, number=update.number)
    if case is None or not key.may_use(case.community_id):
        raise unknown
    action = city_action(update.status, Status(case.status))
    if action is Action.INFORM and not update.description:
        raise Problem(400, "open311.err.field_missing", {"field": "description"})
    # The city's words go with its step; a close or a reopen without any says who made it.
    request = Request(action, note=update.description or key.name)
    inbound = Inbound(channel=CHANNEL, external_id=f"{key.id}:{update.update_id}")
    try:
        await act(ctx, number=update.number, actor=actor, request=request, inbound=inbound)
    except AlreadyHandled:
        pass  # a replay: answered with what the first one made
    except ServiceRefusal as refusal:
        reason = say(language, refusal.reason, **refusal.params)
        params = {"id": update.number, "reason": reason}
        raise Problem(400, "open311.err.update_refused", params) from None
    async with ctx.db.reading() as session:
        made = await store.city_events(
            session=session,
            source=inbound.channel,
            external_id=inbound.external_id,
            number=update.number,
            actor_id=actor.person_id or "",
        )
    if not made:
        raise Problem(400, "open311.err.update_replayed")
    return str(made[-1])
