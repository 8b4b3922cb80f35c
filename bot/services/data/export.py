"""Everything held about a person, as JSON (PIPL art. 45, GDPR art. 15): who they are, their
addresses and opt-outs, the cases they reported with their events, the messages sent to them,
their photos (described, not the bytes), drafts, receipts and sign-ins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.cases.routing import zone
from bot.services.data import audit, follows
from bot.services.data.held import Held, held_about
from bot.services.staff.views import case_json
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from db.models import (
    Case,
    CaseEvent,
    CasePhoto,
    ConsoleLogin,
    ConsoleSession,
    Draft,
    InboundReceipt,
    Invite,
    Open311Request,
    OptOut,
    OutboxMessage,
    Person,
)


def _iso(value: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 in the directory's time zone, with its offset (as case JSON has it)."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


async def export_person(ctx: ServiceContext, person_id: str, *, actor: Actor) -> dict[str, Any]:
    """What is held about ``person_id`` (and the retired records of their addresses), JSON-able;
    the export is recorded in the audit (by a hash of the id). Refused for no such person."""
    async with ctx.db.reading() as session:
        held = await held_about(session, person_id)
        if held is None:
            raise ServiceRefusal("refused.unknown_person", {"person": person_id})
        tz = await zone(session)
        data = await _gather(session, held, tz)
    async with unit_of_work(ctx) as unit:
        counts = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        await audit.record(
            unit, kind="export", person=audit.ref(person_id), actor=actor, detail=counts
        )
        data["exported_at"] = _iso(unit.now, tz)
    return data


def _person(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "role": person.role,
        "language": person.language,
        "source": person.source,
        "active": person.active,
        "community": person.community_id,
        "building": person.building,
    }


async def _gather(session: AsyncSession, held: Held, tz: tzinfo) -> dict[str, Any]:
    """The export's sections."""
    ids, addresses = list(held.ids), list(held.addresses)
    cases = list(
        (
            await session.exec(
                select(Case).where(col(Case.resident_id).in_(ids)).order_by(col(Case.number))
            )
        ).all()
    )
    numbers = [c.number for c in cases]
    opt_outs = await session.exec(select(OptOut).where(col(OptOut.phone).in_(held.phones)))
    return {
        "person": _person(held.person),
        "also_known_as": [_person(p) for p in held.aliases],
        "identities": [
            {
                "channel": i.channel,
                "address": i.address,
                "reachable": i.reachable,
                "preferred": i.preferred,
                "source": i.source,
                "updated_at": _iso(i.updated_at, tz),
            }
            for i in held.identities
        ],
        "opt_outs": [
            {"phone": o.phone, "at": _iso(o.at, tz), "source": o.source} for o in opt_outs.all()
        ],
        "cases": await _cases(session, cases, tz),
        "following": await follows.exported(session, ids, tz),
        "photos": await _photos(session, numbers, tz),
        "messages": await _messages(session, ids, addresses, tz),
        **await _conversations(session, held, tz),
    }


async def _cases(session: AsyncSession, cases: Sequence[Case], tz: tzinfo) -> list[dict[str, Any]]:
    """Their cases as ``cases show --json`` gives them, events with their data, and what an
    Open311 client filed with a case."""
    found = []
    for case in cases:
        events = (
            await session.exec(
                select(CaseEvent)
                .where(CaseEvent.case_number == case.number)
                .order_by(col(CaseEvent.id))
            )
        ).all()
        item = case_json(case.model_dump(), tz, events=events)
        for shown, event in zip(item["events"], events, strict=True):
            shown["data"] = event.data
        filed = await session.get(Open311Request, case.number)
        if filed is not None:
            item["open311"] = filed.model_dump(exclude={"case_number"})
        found.append(item)
    return found


async def _photos(
    session: AsyncSession, numbers: Sequence[int | None], tz: tzinfo
) -> list[dict[str, Any]]:
    """Their cases' photos, described (the bytes stay out)."""
    query = (
        select(CasePhoto)
        .where(col(CasePhoto.case_number).in_(numbers))
        .options(defer(CasePhoto.content))  # type: ignore[arg-type]
        .order_by(col(CasePhoto.case_number), col(CasePhoto.position))
    )
    return [
        {
            "case": p.case_number,
            "position": p.position,
            "source": p.source,
            "content_type": p.content_type,
            "size": p.size,
            "kind": "stored" if p.file_id is None else "channel_file",
            "created_at": _iso(p.created_at, tz),
        }
        for p in (await session.exec(query)).all()
    ]


async def _messages(
    session: AsyncSession, ids: Sequence[str], addresses: Sequence[str], tz: tzinfo
) -> list[dict[str, Any]]:
    """The messages sent (or to be sent) to them: when, where, which, what it said."""
    query = (
        select(OutboxMessage)
        .where(
            or_(col(OutboxMessage.person_id).in_(ids), col(OutboxMessage.address).in_(addresses))
        )
        .options(defer(OutboxMessage.photo))  # type: ignore[arg-type]
        .order_by(col(OutboxMessage.id))
    )
    return [
        {
            "at": _iso(m.created_at, tz),
            "sent_at": _iso(m.sent_at, tz),
            "channel": m.channel,
            "address": m.address,
            "case": m.case_number,
            "template": m.template,
            "text": m.text,
            "status": m.status,
        }
        for m in (await session.exec(query)).all()
    ]


async def _conversations(session: AsyncSession, held: Held, tz: tzinfo) -> dict[str, Any]:
    """Drafts, the receipts of what they sent, invites and console sign-ins (metadata)."""
    ids = list(held.ids)
    chats = [f"{i.channel}:{i.address}" for i in held.identities]
    drafts = await session.exec(
        select(Draft).where(or_(col(Draft.person_id).in_(ids), col(Draft.chat).in_(chats)))
    )
    receipts = await session.exec(
        select(InboundReceipt)
        .where(col(InboundReceipt.sender).in_(list(held.addresses)))
        .order_by(col(InboundReceipt.id))
    )
    invites = await session.exec(select(Invite).where(col(Invite.person_id).in_(ids)))
    logins = await session.exec(select(ConsoleLogin).where(col(ConsoleLogin.person_id).in_(ids)))
    sessions = await session.exec(
        select(ConsoleSession).where(col(ConsoleSession.person_id).in_(ids))
    )
    return {
        "drafts": [
            {"flow": d.flow, "step": d.step, "data": d.data, "updated_at": _iso(d.updated_at, tz)}
            for d in drafts.all()
        ],
        "receipts": [
            {"channel": r.source, "id": r.external_id, "at": _iso(r.received_at, tz)}
            for r in receipts.all()
        ],
        "invites": [
            {k: _iso(getattr(i, k), tz) for k in ("created_at", "expires_at", "used_at")}
            for i in invites.all()
        ],
        "console_logins": [
            {k: _iso(getattr(x, k), tz) for k in ("created_at", "expires_at", "used_at")}
            for x in logins.all()
        ],
        "console_sessions": [
            {
                "language": s.language,
                **{k: _iso(getattr(s, k), tz) for k in ("created_at", "seen_at", "expires_at")},
            }
            for s in sessions.all()
        ],
    }
