"""The clock's use case: take each case whose timer ran out and do its step — remind, escalate,
nudge the resident, close unrated — exactly once, however many processes sweep.

Each case is claimed in its own transaction with ``FOR UPDATE SKIP LOCKED`` (other sweepers pass
it by), re-checked under the lock, stepped, and its timer moved on before commit: a restart or a
second instance finds nothing left to repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.services.cases.lifecycle import Request, act_in
from bot.services.cases.routing import Policy, policy_for, quiet_until
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from core.cases import Action, Status
from core.due import Step, step_for
from core.policy import defer_for_quiet_hours, resting_until
from db.models import Case, Setting

_ACTIVE = (Status.ASSIGNED.value, Status.ACKNOWLEDGED.value, Status.RESOLVED.value)
_ACTIONS = {
    Step.REMIND: Action.REMIND,
    Step.ESCALATE: Action.ESCALATE,
    Step.NUDGE: Action.NUDGE,
    Step.CLOSE_UNRATED: Action.CLOSE_UNRATED,
}


async def run_due(ctx: ServiceContext, *, limit: int = 500) -> dict[Step, int]:
    """Step up to ``limit`` due cases; returns how many took each step."""
    done: dict[Step, int] = {}
    quiet_end = await quiet_until(ctx)
    for _ in range(limit):
        step = await _step_one(ctx, quiet_end)
        if step is None:
            break
        done[step] = done.get(step, 0) + 1
    return done


async def _step_one(ctx: ServiceContext, quiet_end: datetime | None) -> Step | None:
    async with unit_of_work(ctx) as unit:
        query = (
            select(Case)
            .where(col(Case.next_due_at) <= unit.now, col(Case.status).in_(_ACTIVE))
            .order_by(col(Case.next_due_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        case = (await unit.session.exec(query)).first()
        if case is None:
            return None
        assert case.number is not None
        policy = await policy_for(session=unit.session, category_id=case.category_id)
        wait_until = _rest_or_quiet(Status(case.status), policy, now=unit.now, quiet=quiet_end)
        step = step_for(
            Status(case.status),
            reminders_sent=case.reminders_sent,
            escalation_level=case.escalation_level,
            chain_length=len(policy.chain),
            levels=policy.levels,
            quiet_until=wait_until,
        )
        if step is None:  # not a status the clock looks after: stop watching it
            case.next_due_at = None
        elif step is Step.WAIT:
            case.next_due_at = wait_until
        else:
            request = Request(_ACTIONS[step])
            try:
                await act_in(unit, number=case.number, actor=Actor.system(), request=request)
            except ServiceRefusal:
                # Nothing was written; look again a cadence later rather than spin on it.
                case.next_due_at = unit.now + policy.levels.remind_every
                step = Step.WAIT
        unit.session.add(case)
        return step or Step.WAIT


def _rest_or_quiet(
    status: Status, policy: Policy, *, now: datetime, quiet: datetime | None
) -> datetime | None:
    """When a due step may happen, if not now: the end of the quiet hours, and for the managers'
    reminders and escalations of a ``working_days`` category, the next working day's start
    (after its quiet hours) — a deadline counted in working days is not chased on a holiday."""
    levels = policy.levels
    if not levels.working_days or levels.urgent or status is Status.RESOLVED:
        return quiet
    rest = resting_until(now, tz=policy.tz, calendar=policy.calendar)
    if rest is None:
        return quiet
    return defer_for_quiet_hours(rest, quiet=levels.quiet_hours, tz=policy.tz, urgent=False)


async def hold_lease(
    ctx: ServiceContext,
    *,
    name: str,
    holder: str,
    seconds: float,
    gone: Callable[[str], bool] = lambda _holder: False,
) -> bool:
    """Take or renew the lease ``name`` for ``holder``; False while another holder has it,
    unless ``gone`` says that holder is known to have died (the lease is then taken at once)."""
    async with unit_of_work(ctx) as unit:
        row = await unit.session.get(Setting, f"lease:{name}")
        now = unit.now
        other = row.value.get("holder") if row is not None else None
        if other is not None and other != holder and not gone(str(other)):
            assert row is not None
            if datetime.fromisoformat(row.value["until"]) > now:
                return False
        until = (now + timedelta(seconds=seconds)).isoformat()
        if row is None:
            row = Setting(key=f"lease:{name}", value={})
        row.value = {"holder": holder, "until": until}
        unit.session.add(row)
        return True
