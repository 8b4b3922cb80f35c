"""A load that retires a manager hands their open cases on in its transaction (issue 12, part 4):
by the new routing, else up their chain, else back to staff; an event each, the new holder and
the resident told. Both databases (the ``db`` fixture)."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from bot.services.cases import lifecycle
from bot.services.cases.handover import Move, plan
from bot.services.directory.load import load_directory
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel
from db.models import Case, CaseEvent, OutboxMessage
from tests.services.test_directory_load import Data, _report, drop_person, edited

GONE = "mgr-jzsj-south"  # 王经理, who holds jzsj-south's cases


def route_south_to(manager: str | None) -> Callable[[Data], None]:
    """jzsj-south's routing rule names ``manager``; None: the rule is gone."""

    def edit(data: Data) -> None:
        rules = [r for r in data["routing"] if r["community"] != "jzsj-south"]
        if manager is not None:
            rules.insert(0, {"community": "jzsj-south", "category": "*", "manager": manager})
        data["routing"] = rules

    return edit


async def _case(ctx: ServiceContext, number: int) -> Case:
    async with ctx.db.reading() as session:
        found = await session.get(Case, number)
    assert found is not None
    return found


async def _events(ctx: ServiceContext, number: int) -> list[CaseEvent]:
    async with ctx.db.reading() as session:
        query = select(CaseEvent).where(CaseEvent.case_number == number)
        return list((await session.exec(query.order_by(col(CaseEvent.id)))).all())


async def _told(ctx: ServiceContext, number: int, after: int) -> set[tuple[str | None, str]]:
    """(person, template) of the case's new messages (not card edits) since outbox id ``after``."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.case_number == number,
            col(OutboxMessage.id) > after,
            col(OutboxMessage.edit_of).is_(None),
        )
        return {(m.person_id, m.template) for m in (await session.exec(query)).all()}


async def _last_outbox_id(ctx: ServiceContext) -> int:
    async with ctx.db.reading() as session:
        ids = (await session.exec(select(OutboxMessage.id))).all()
    return max((i for i in ids if i is not None), default=0)


async def test_a_leavers_acknowledged_case_goes_to_the_new_route(loaded: ServiceContext) -> None:
    number = await _report(loaded)
    actor = Actor(GONE, Channel.TELEGRAM)
    await lifecycle.acknowledge(loaded, number=number, actor=actor)
    directory = edited(drop_person(GONE), route_south_to("mgr-bgy-north"))
    async with loaded.db.reading() as session:  # what `directory check` says beforehand
        before = await plan(session, directory)
    expected = [Move(number, GONE, "王经理", "mgr-bgy-north", "郑经理")]
    assert before == expected
    seen = await _last_outbox_id(loaded)

    summary = await load_directory(loaded, directory)
    assert summary.counts["deactivated"] == 1
    assert list(summary.moves) == expected
    case = await _case(loaded, number)
    assert (case.status, case.manager_id, case.escalation_level) == ("assigned", "mgr-bgy-north", 0)
    last = (await _events(loaded, number))[-1]
    assert (last.kind, last.actor_id, last.channel) == ("reassigned", None, "system")
    assert "王经理" in last.note
    assert last.data["manager"] == "mgr-bgy-north"
    told = await _told(loaded, number, seen)
    assert ("mgr-bgy-north", "case.card") in told
    assert ("r-jzsj-172", "case.reassigned_resident") in told
    assert all(person != GONE for person, _ in told)  # nobody writes to someone who left
    # the new holder can act on it; loading the same file again moves nothing
    await lifecycle.acknowledge(
        loaded, number=number, actor=Actor("mgr-bgy-north", Channel.TELEGRAM)
    )
    assert not (await load_directory(loaded, directory)).moves


async def test_without_a_route_it_climbs_to_the_leavers_supervisor(
    loaded: ServiceContext,
) -> None:
    number = await _report(loaded)
    summary = await load_directory(loaded, edited(drop_person(GONE), route_south_to(None)))
    assert list(summary.moves) == [Move(number, GONE, "王经理", "sup-jzsj-south", "赵主管")]
    case = await _case(loaded, number)
    assert (case.status, case.manager_id) == ("assigned", "sup-jzsj-south")


async def test_with_nobody_above_it_goes_back_to_staff(loaded: ServiceContext) -> None:
    number = await _report(loaded)
    seen = await _last_outbox_id(loaded)
    directory = edited(drop_person(GONE), drop_person("sup-jzsj-south"), route_south_to(None))
    summary = await load_directory(loaded, directory)
    assert (summary.counts["deactivated"], summary.counts["deleted"]) == (1, 1)  # no cases: gone
    assert list(summary.moves) == [Move(number, GONE, "王经理", None, None)]
    case = await _case(loaded, number)
    assert (case.status, case.manager_id) == ("unassigned", None)
    assert [e.kind for e in await _events(loaded, number)][-2:] == ["reassigned", "unrouted"]
    told = await _told(loaded, number, seen)
    assert ("liubo", "case.unrouted") in told  # jzsj-south's staff, to reassign it
    assert ("r-jzsj-172", "case.reassigned_resident") in told


async def test_a_case_of_someone_who_stays_does_not_move(loaded: ServiceContext) -> None:
    number = await _report(loaded)
    summary = await load_directory(loaded, edited(route_south_to("mgr-bgy-north")))
    assert not summary.moves  # new routing applies to new cases; the holder is still here
    assert (await _case(loaded, number)).manager_id == GONE
