"""A merged duplicate is its original's problem (docs/reference.md §5): it counts in none of the
three rates nor in ``cases`` — overall, per community, per manager — and counts again, as it
did, once the merge is undone. The database's figures (``wolaiban stats``) and core/rates.py's
definition agree on it."""

from __future__ import annotations

from sqlmodel import col, select

from bot.services.cases import lifecycle, merge
from bot.services.cases.report import NewReport, report
from bot.services.staff import stats
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Channel, Rating, Status
from core.rates import CaseFacts, Rates, compute_rates
from db.models import Case
from tests.conftest import Clock

from .example import ACTORS

RESIDENT, MANAGER, STAFF = ACTORS["resident"], ACTORS["manager"], ACTORS["staff"]
NEIGHBOUR = Actor("r-yunwan-en", Channel.TELEGRAM)
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼门口")

# A alone: acknowledged in time, past its resolve deadline unresolved, unrated.
ONLY_A = Rates(
    cases=1,
    responded_in_time=1,
    response_base=1,
    resolved=0,
    resolution_base=1,
    satisfied=0,
    basically_satisfied=0,
    dissatisfied=0,
)
# B as well: acknowledged late, past its deadline, its "fixed" rated not satisfied (reopened).
A_AND_B = Rates(
    cases=2,
    responded_in_time=1,
    response_base=2,
    resolved=0,
    resolution_base=2,
    satisfied=0,
    basically_satisfied=0,
    dissatisfied=1,
)


async def _reported(ctx: ServiceContext, who: Actor) -> int:
    assert who.person_id is not None
    case = await report(ctx, resident_id=who.person_id, channel=who.channel, new=PARCELS)
    assert case.number is not None
    return case.number


async def _two_cases(ctx: ServiceContext, clock: Clock) -> tuple[int, int]:
    """A, and B: the same problem reported again, which counts in every base of the rates."""
    a = await _reported(ctx, RESIDENT)
    clock.advance(minutes=1)
    b = await _reported(ctx, NEIGHBOUR)
    clock.advance(minutes=9)
    await lifecycle.acknowledge(ctx, number=a, actor=MANAGER)
    clock.advance(minutes=35)  # B's acknowledge deadline (30 minutes) has passed
    await lifecycle.acknowledge(ctx, number=b, actor=MANAGER)
    await lifecycle.resolve(ctx, number=b, actor=MANAGER)
    await lifecycle.rate(ctx, number=b, actor=NEIGHBOUR, rating=Rating.DISSATISFIED, note="还在")
    clock.advance(days=4)  # past both resolve deadlines (72 hours)
    return a, b


async def _figures(ctx: ServiceContext) -> dict[str, dict[str, Rates]]:
    """The rates as ``wolaiban stats`` counts them: overall, per community, per manager."""
    return {
        "all": await stats.rates(ctx),
        "community": await stats.rates(ctx, by="community"),
        "manager": await stats.rates(ctx, by="manager"),
    }


async def _by_definition(ctx: ServiceContext) -> Rates:
    """core/rates.py over the cases as stored: a case with ``duplicate_of`` is a merged one."""
    async with ctx.db.reading() as session:
        cases = (await session.exec(select(Case).order_by(col(Case.number)))).all()
    facts = [
        CaseFacts(
            status=Status(c.status),
            ack_due_at=c.ack_due_at,
            acknowledged_at=c.acknowledged_at,
            resolve_due_at=c.resolve_due_at,
            resolved_at=c.resolved_at,
            rating=Rating(c.rating) if c.rating else None,
            closed_at=c.closed_at,
            merged=c.duplicate_of is not None,
        )
        for c in cases
    ]
    return compute_rates(facts, now=ctx.clock())


def _everywhere(rates: Rates) -> dict[str, dict[str, Rates]]:
    """The same figures overall, for jzsj-south and for its manager (every case is theirs)."""
    return {
        "all": {"": rates},
        "community": {"jzsj-south": rates},
        "manager": {MANAGER.person_id or "": rates},
    }


async def test_a_merged_duplicate_counts_in_nothing_and_again_once_undone(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    a, b = await _two_cases(ctx, clock)
    assert await _figures(ctx) == _everywhere(A_AND_B)
    assert await _by_definition(ctx) == A_AND_B

    await merge.merge(ctx, number=b, into=a, actor=STAFF)
    # Not in ``cases``, not in the response, resolution or satisfaction base.
    assert await _figures(ctx) == _everywhere(ONLY_A)
    assert await _by_definition(ctx) == ONLY_A
    shown = (await stats.rates(ctx))[""]
    assert (shown.response_rate, shown.resolution_rate, shown.satisfaction_rate) == (
        1.0,
        0.0,
        None,
    )

    await merge.unmerge(ctx, number=b, actor=STAFF)
    # B is handled on its own again, as it was: it counts as it did before the merge.
    assert await _figures(ctx) == _everywhere(A_AND_B)
    assert await _by_definition(ctx) == A_AND_B


async def test_a_duplicate_merged_by_the_reject_question_counts_in_nothing(
    loaded: ServiceContext, clock: Clock
) -> None:
    """Staff's "reject as a duplicate of #A" (Telegram, the console) is the same merge."""
    ctx = loaded
    a, b = await _two_cases(ctx, clock)
    await lifecycle.reject(ctx, number=b, actor=STAFF, duplicate_of=a)
    assert await _figures(ctx) == _everywhere(ONLY_A)
    assert await _by_definition(ctx) == ONLY_A
