"""What the console and Open311 write is named in the domain's vocabulary: an internal note is a
``note`` event on the ``web`` channel, written in a unit of work like every other event; a
request filed through Open311 is tagged ``open311``."""

from __future__ import annotations

from bot.services.cases.report import NewReport, report
from bot.services.staff import case as staff_case
from bot.services.staff.listing import Viewer, viewer_of
from bot.services.unit.context import ServiceContext
from core.cases import Channel, EventKind
from db import queries


async def test_a_note_is_an_event_of_the_vocabulary(loaded: ServiceContext) -> None:
    case = await report(
        loaded,
        resident_id="r-jzsj-172",
        channel=Channel.CLI,
        new=NewReport("jzsj-south", "parcels", "驿站门口快递堆在路上"),
    )
    assert case.number is not None
    viewer = await _staff_viewer(loaded, case.community_id)
    await staff_case.add_note(loaded, viewer, number=case.number, text="已电话联系物业")
    async with loaded.db.reading() as session:
        events = await queries.case_events(session=session, number=case.number)
    note = events[-1]
    assert (note.kind, note.channel, note.note) == (EventKind.NOTE, Channel.WEB, "已电话联系物业")
    assert note.actor_id == viewer.person_id
    assert {e.kind for e in events} <= {k.value for k in EventKind}
    assert {e.channel for e in events} <= {c.value for c in Channel}


async def _staff_viewer(ctx: ServiceContext, community_id: str) -> Viewer:
    async with ctx.db.reading() as session:
        [staff_id, *_] = await queries.staff_ids(session=session, community_id=community_id)
        person = await queries.get_person(session=session, person_id=staff_id)
        assert person is not None
        return await viewer_of(session, person)
