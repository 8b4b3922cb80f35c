"""A leaver's resolved case, waiting for its resident's rating, is handed on too (issue 12, part 4):
it stays resolved, its new holder is told, and a "not satisfied" reopens it to them — not to the
person who left. With nobody to take it, it stays. Both databases (the ``db`` fixture)."""

from __future__ import annotations

from bot.services.cases import lifecycle
from bot.services.cases.handover import Move
from bot.services.directory.load import load_directory
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating
from tests.services.test_directory_load import _report, drop_person, edited
from tests.services.test_handover import (
    GONE,
    _case,
    _events,
    _last_outbox_id,
    _told,
    route_south_to,
)

RESIDENT = "r-jzsj-172"


async def _resolved_by_the_leaver(ctx: ServiceContext) -> int:
    number = await _report(ctx)
    actor = Actor(GONE, Channel.TELEGRAM)
    await lifecycle.acknowledge(ctx, number=number, actor=actor)
    await lifecycle.resolve(ctx, number=number, actor=actor)
    return number


async def test_a_resolved_case_goes_to_the_new_holder_and_reopens_to_them(
    loaded: ServiceContext,
) -> None:
    number = await _resolved_by_the_leaver(loaded)
    seen = await _last_outbox_id(loaded)
    directory = edited(drop_person(GONE), route_south_to("mgr-bgy-north"))
    summary = await load_directory(loaded, directory)
    assert list(summary.moves) == [
        Move(number, GONE, "王经理", "mgr-bgy-north", "郑经理", waiting=True)
    ]
    case = await _case(loaded, number)
    assert (case.status, case.manager_id, case.escalation_level) == ("resolved", "mgr-bgy-north", 0)
    last = (await _events(loaded, number))[-1]
    assert (last.kind, last.actor_id, last.channel) == ("reassigned", None, "system")
    assert last.data == {"status": "resolved", "level": 0, "manager": "mgr-bgy-north"}
    told = await _told(loaded, number, seen)
    assert told == {("mgr-bgy-north", "case.handed_on_resolved")}  # the resident just rates

    seen = await _last_outbox_id(loaded)
    resident = Actor(RESIDENT, Channel.TELEGRAM)
    await lifecycle.rate(loaded, number=number, actor=resident, rating=Rating.DISSATISFIED)
    case = await _case(loaded, number)
    assert (case.status, case.manager_id) == ("assigned", "mgr-bgy-north")
    told = await _told(loaded, number, seen)
    assert ("mgr-bgy-north", "case.reopened") in told
    assert all(person != GONE for person, _ in told)
    assert not (await load_directory(loaded, directory)).moves  # nothing left to hand on


async def test_a_resolved_case_with_nobody_to_take_it_stays(loaded: ServiceContext) -> None:
    number = await _resolved_by_the_leaver(loaded)
    directory = edited(drop_person(GONE), drop_person("sup-jzsj-south"), route_south_to(None))
    summary = await load_directory(loaded, directory)
    assert not summary.moves
    case = await _case(loaded, number)
    assert (case.status, case.manager_id) == ("resolved", GONE)
