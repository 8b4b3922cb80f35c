"""POST servicerequestupdates from the city (FixMyStreet's client): a note reaches the case's
timeline by the key, and CLOSED closes it as the city — both with channel ``open311`` and the
key's name — and the city hears that step back with the id it was answered; a replayed
``update_id`` acts once; a resolved case is sent back with REOPEN; a request of a community the
key does not cover is refused and nothing changes; a bad status is a 400. JSON and XML."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.open311 import keys
from db.models import Case, CaseEvent, OutboxMessage
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of
from tests.open311.test_schemas import valid
from tests.open311.updating import post_update, step, updates

CITY = "chaoyang-12345"


async def _events(client: Client, number: int) -> list[CaseEvent]:
    async with client.ctx.db.reading() as session:
        query = select(CaseEvent).where(CaseEvent.case_number == number)
        return list((await session.exec(query.order_by(col(CaseEvent.id)))).all())


async def _case(client: Client, number: int) -> Case:
    async with client.ctx.db.reading() as session:
        case = await session.get(Case, number)
        assert case is not None
        return case


def _ours(body: Any, fmt: str) -> str:
    if fmt == "json":
        valid("update_posted.json", body)
    (answer,) = body
    assert set(answer) == {"update_id"}
    return str(answer["update_id"])


async def test_a_city_note_then_closed_by_the_city(client: Client, clock: Clock) -> None:
    key = await keys.create_key(client.ctx, name=CITY, communities=["jzsj-south"])
    number = await client.file(phone="+8613900000077")  # the resident hears by SMS
    clock.advance(minutes=10)
    status, body = await post_update(
        client,
        key,
        update_id="fms-1",
        service_request_id=str(number),
        status="OPEN",
        description="城管已派人查看",
        updated_datetime="2026-11-25T10:10:00+08:00",
    )
    assert status == 200, body
    note_id = _ours(body, client.fmt)
    clock.advance(minutes=10)
    status, body = await post_update(
        client,
        key,
        update_id="fms-2",
        service_request_id=str(number),
        status="CLOSED",
        description="已由城管清理",
        jurisdiction_id="jzsj-south",
    )
    assert status == 200, body
    closed_id = _ours(body, client.fmt)
    case = await _case(client, number)
    assert case.status == "closed"
    assert case.closed_at is not None
    events = await _events(client, number)
    by_city = [(e.kind, e.channel, e.actor_id, e.note) for e in events if e.channel == "open311"]
    assert ("informed", "open311", f"open311:{CITY}", "城管已派人查看") in by_city
    assert ("closed", "open311", f"open311:{CITY}", "已由城管清理") in by_city
    assert [str(e.id) for e in events if e.kind in ("informed", "closed")] == [note_id, closed_id]
    # The resident is told it closed, with the city's words.
    async with client.ctx.db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.case_number == number)
        told = [m for m in (await session.exec(query)).all() if m.person_id == case.resident_id]
    assert any("已由城管清理" in (m.text or "") for m in told)
    # The city hears the close back as CLOSED, under the id it was answered; its note is its own.
    _, heard = await updates(client)
    rows = [(str(u["update_id"]), u["status"]) for u in heard]
    assert rows[-1] == (closed_id, "CLOSED")
    assert note_id not in [r[0] for r in rows]


async def test_a_replayed_update_acts_once(client: Client, clock: Clock) -> None:
    key = await keys.create_key(client.ctx, name=CITY, communities=["jzsj-south"])
    number = await client.file()
    form = {"update_id": "fms-7", "service_request_id": str(number), "status": "CLOSED"}
    status, body = await post_update(client, key, description="重复推送", **form)
    assert status == 200, body
    first = _ours(body, client.fmt)
    before = await client.tables()
    for _ in range(2):
        clock.advance(seconds=5)
        status, body = await post_update(client, key, description="重复推送", **form)
        assert status == 200, body
        assert _ours(body, client.fmt) == first
    after = await client.tables()
    assert after["case_event"] == before["case_event"]
    assert after["cases"] == before["cases"]


async def test_reopened_by_the_city(client: Client, clock: Clock) -> None:
    key = await keys.create_key(client.ctx, name=CITY, communities=["jzsj-south"])
    number = await client.file()
    for name in ("acknowledge", "resolve", "rate"):
        clock.advance(minutes=5)
        await step(client.ctx, number, name)
    assert (await _case(client, number)).status == "closed"
    clock.advance(minutes=5)
    form = {"update_id": "fms-9", "service_request_id": str(number), "status": "REOPEN"}
    status, body = await post_update(client, key, description="居民反映仍未清理", **form)
    assert status == 200, body
    case = await _case(client, number)
    assert (case.status, case.reopen_count, case.closed_at, case.rating) == (
        "assigned",
        1,
        None,
        None,
    )
    _, heard = await updates(client)
    assert [u["status"] for u in heard][-2:] == ["CLOSED", "REOPEN"]


async def test_another_communitys_request_is_refused_and_nothing_changes(
    client: Client, clock: Clock
) -> None:
    other = await keys.create_key(client.ctx, name="bgy-city", communities=["bgy-north"])
    number = await client.file()  # in jzsj-south
    before = await client.tables()
    for status_word in ("CLOSED", "OPEN"):
        form = {"update_id": f"x-{status_word}", "service_request_id": str(number)}
        status, body = await post_update(
            client, other, status=status_word, description="关", **form
        )
        assert status == 404, body
        assert error_of(body)[0] == "404"
    after = await client.tables()
    for table in ("cases", "case_event", "outbox"):
        assert after[table] == before[table], table
    assert (await _case(client, number)).status == "assigned"


async def test_what_is_wrong_is_a_400(client: Client) -> None:
    key = await keys.create_key(client.ctx, name=CITY, communities=["jzsj-south"])
    number = str(await client.file())
    cases = [
        {"service_request_id": number, "status": "MAYBE", "description": "x", "update_id": "a"},
        {"service_request_id": number, "status": "CLOSED", "description": "x"},
        {"service_request_id": number, "status": "OPEN", "update_id": "b"},  # a note of nothing
    ]
    for form in cases:
        status, body = await post_update(client, key, **form)
        assert status == 400, (form, body)
        assert error_of(body)[0] == "400"
    status, body = await post_update(client, "o311_wrong", update_id="c", status="CLOSED")
    assert status == 403
    assert (await _case(client, int(number))).status == "assigned"
