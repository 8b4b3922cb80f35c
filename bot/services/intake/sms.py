"""A report by SMS on the hot path: a text to a community's number becomes a case in the
writer's next group commit; the answer's texts go back in the webhook's reply. Whatever it does
not take — a replay, a sender with a draft in progress, a retired or unknown address holder, a
sender past a limit, a number that is no community's, a directory changed since this process
read it, a report an open case may already be (the general path offers it to follow) — raises
``NotHot`` and the message takes the general path (``messages.message``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy.engine import Connection

from bot.services.cases.following import suggestion_query, suggestions_of
from bot.services.cases.report import NewReport, category_in
from bot.services.cases.routing import policy_of
from bot.services.intake.arrival import Arrival, NotHot, admit, arrival, sender_of, within_limits
from bot.services.intake.opening import open_report
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from core.clean import clean, describes
from core.places import building_in
from core.sms_text import as_sms
from db.models import OutboxMessage


@dataclass(frozen=True, slots=True)
class SmsReport:
    """One SMS report for the writer."""

    arrival: Arrival
    text: str  # cleaned
    to: str


def job_for(ctx: ServiceContext, inbound: Inbound, text: str, to: str) -> SmsReport:
    """The writer's job for one SMS report; ``NotHot`` when it plainly cannot be one."""
    job = arrival(ctx, inbound)
    text = clean(text)
    if not describes(text) or job.snapshot.community_by_number(to) is None:
        raise NotHot()
    return SmsReport(job, text, to)


async def sms_report(ctx: ServiceContext, inbound: Inbound, text: str, to: str) -> list[str]:
    """File an SMS report through the writer; the answer's texts once it is committed (or
    ``NotHot``: nothing written, the general path takes it)."""
    job = job_for(ctx, inbound, text, to)
    rows = await ctx.db.write(partial(write_sms_report, job=job))
    return [as_sms(row.text, row.button_rows(), row.language) for row in rows]


def write_sms_report(conn: Connection, job: SmsReport) -> list[OutboxMessage]:
    """Open the case an SMS report asks for; the rows that answer it (sent in the reply)."""
    came = job.arrival
    memo = admit(conn, came)
    person, new = sender_of(conn, came)
    within_limits(conn, came, person, new=new)
    community = came.snapshot.community_by_number(job.to)
    category = came.snapshot.categories.get(category_in(came.snapshot, job.text))
    if community is None or category is None:
        raise NotHot()
    # One indexed query (ix_cases_suggest): a report that may be an open case is asked about.
    window = policy_of(came.snapshot, category.id).levels.follow_window
    if window:  # 0s: the offer is off (and "since now" could still see a case committed first)
        query = suggestion_query(
            community_id=community.id,
            category_id=category.id,
            building=building_in(job.text, community.buildings),
            since=came.now - window,
            exclude_resident=person.id,
            limit=1,
        )
        if suggestions_of(conn.execute(query)):
            raise NotHot()
    rows = open_report(conn, memo, came, person, NewReport(community.id, category.id, job.text))
    inbound = came.inbound
    return [r for r in rows if r.reply_to == inbound.key and r.channel == inbound.channel]
