"""A merged duplicate as an Open311 client reads it (docs/reference.md §10): closed, its
``status_notes`` naming the request that carries the problem on, in the reader's language, in
JSON and XML; the original's notes keep its own latest step whoever follows it or is merged
into it; an undone merge opens the duplicate again."""

from __future__ import annotations

from typing import Any

from bot.services.cases import lifecycle, merge
from bot.services.cases.following import follow_in
from bot.services.unit.context import Actor
from bot.services.unit.work import unit_of_work
from db import queries
from tests.open311.conftest import Client, open311_client

MANAGER = Actor("mgr-jzsj-south", "telegram")
STAFF = Actor("liubo", "telegram")


async def _one(client: Client, number: int, **params: Any) -> dict[str, Any]:
    status, body = await client.get(f"requests/{number}", api_key=client.key, **params)
    assert status == 200, body
    (request,) = body
    assert isinstance(request, dict)
    return request


async def test_a_merged_duplicate_names_its_original(client: Client) -> None:
    a = await client.file()
    b = await client.file(description="172号楼门口快递堆满了", phone="+8613900000077")
    await lifecycle.acknowledge(client.ctx, number=a, actor=MANAGER)
    client.clock.advance(minutes=20)
    await merge.merge(client.ctx, number=b, into=a, actor=STAFF)

    duplicate = await _one(client, b)
    assert duplicate["status"] == "closed"
    assert duplicate["status_notes"] == f"已并入 #{a}（同一问题）"
    assert duplicate["updated_datetime"] == "2026-11-25T10:20:00+08:00"  # when it was merged
    english = await _one(client, b, locale="en")
    assert english["status_notes"] == f"Merged into #{a} (the same problem)"
    # The original goes on as it was: open, its latest step its own, not the merge.
    original = await _one(client, a)
    assert (original["status"], original["status_notes"]) == ("open", "接单")
    # A list reads the same as the one request.
    status, listed = await client.get("requests", api_key=client.key, service_request_id=f"{a},{b}")
    assert status == 200
    notes = {int(r["service_request_id"]): (r["status"], r["status_notes"]) for r in listed}
    assert notes == {a: ("open", "接单"), b: ("closed", f"已并入 #{a}（同一问题）")}

    await merge.unmerge(client.ctx, number=b, actor=STAFF)
    again = await _one(client, b)
    assert (again["status"], again["status_notes"]) == ("open", "撤销合并")
    assert f"#{a}" not in (again["status_notes"] or "")


async def test_followers_are_no_step_of_the_case(client: Client) -> None:
    a = await client.file()
    await lifecycle.acknowledge(client.ctx, number=a, actor=MANAGER)
    async with unit_of_work(client.ctx) as unit:
        neighbour = await queries.get_person(session=unit.session, person_id="r-jzsj-172")
        assert neighbour is not None
        await follow_in(unit, person=neighbour, number=a, channel="telegram", note="我家门口也是")
    request = await _one(client, a)
    assert (request["status"], request["status_notes"]) == ("open", "接单")


async def test_a_merged_duplicate_is_served_closed_without_a_key(client: Client) -> None:
    """With ``OPEN311_PUBLIC_READ`` closed requests are public: a merged one is closed."""
    a = await client.file()
    b = await client.file()
    await merge.merge(client.ctx, number=b, into=a, actor=STAFF)
    async with open311_client(
        client.ctx, client.clock, client.fmt, key_name="public", open311_public_read=True
    ) as public:
        status, body = await public.get(f"requests/{b}")
        assert status == 200, body
        merged = f"已并入 #{a}（同一问题）"
        assert (body[0]["status"], body[0]["status_notes"]) == ("closed", merged)
        status, body = await public.get(f"requests/{a}")
        assert status == 200  # still open: served as published, the resident's words withheld
        assert (body[0]["status"], body[0]["description"]) == ("open", None)
