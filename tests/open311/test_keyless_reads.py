"""Reading by id without a key (docs/reference.md §10): any request's id, status, service, times,
status notes and agency are public, open or closed; what the resident wrote, where, and the
photo only with a key for the request's community (or, closed, under ``OPEN311_PUBLIC_READ``).
At most 50 ids without a key, 1,000 with one; the ids are strings in JSON."""

from __future__ import annotations

from typing import Any

from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of, open311_client, text
from tests.open311.test_get_requests import FIELDS, _done

PUBLIC = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
}
WITHHELD = {"description", "service_notice", "address", "address_id", "lat", "long", "media_url"}
FILED = {
    "lat": "39.7285",
    "long": "116.1903",
    "address_id": "BJ-FS-0172",
    "description": "快递堆在172号楼门口，我家没人",
}


def _published(request: dict[str, Any], whole: dict[str, Any]) -> None:
    """``request`` is ``whole`` as published: every field, the public ones as they are."""
    assert list(request) == FIELDS
    assert {name: request[name] for name in PUBLIC} == {name: whole[name] for name in PUBLIC}
    assert {name: request[name] for name in WITHHELD | {"zipcode"}} == dict.fromkeys(
        WITHHELD | {"zipcode"}
    )


async def test_any_request_by_id_without_a_key(client: Client) -> None:
    number = await client.file(**FILED)
    status, (whole,) = await client.get(f"requests/{number}", api_key=client.key)
    assert status == 200
    assert whole["description"] == FILED["description"]
    status, (request,) = await client.get(f"requests/{number}")
    assert status == 200
    _published(request, whole)
    assert text(request["service_request_id"]) == str(number)
    assert (request["status"], request["status_notes"]) == ("open", "派单")
    assert request["agency_responsible"] == "嘉州水郡南区社区物业负责人"
    # Followed to closed, still without a key.
    await _done(client, number)
    status, (closed,) = await client.get(f"requests/{number}")
    assert (closed["status"], closed["status_notes"]) == ("closed", "评价；评价：满意")
    assert closed["description"] is None
    body = (await client.http.get(client.url(f"requests/{number}"))).content.decode()
    for secret in ("我家没人", "172号楼", "39.7285", "BJ-FS-0172"):
        assert secret not in body


async def test_several_by_id_without_a_key(client: Client) -> None:
    first = await client.file()
    second = await client.file(jurisdiction_id="bgy-north", address_string="72号楼")
    await _done(client, first)
    ids = f"{first}, {second},999999"
    status, found = await client.get("requests", service_request_id=ids, status="closed")
    assert status == 200
    # Newest first, open and closed, any community; an unknown id is simply not there.
    assert [text(r["service_request_id"]) for r in found] == [str(second), str(first)]
    assert [r["status"] for r in found] == ["open", "closed"]
    assert [r["address"] for r in found] == [None, None]
    fifty = ",".join(str(first) for _ in range(50))
    assert (await client.get("requests", service_request_id=fifty))[0] == 200
    status, body = await client.get("requests", service_request_id=f"{fifty},{first}")
    assert status == 400
    code, description = error_of(body)
    assert code == "400"
    assert "50" in description
    # With a key, up to the spec's 1,000.
    many = ",".join(str(n) for n in range(1, 1001))
    status, found = await client.get("requests", api_key=client.key, service_request_id=many)
    assert status == 200
    assert len(found) == 2
    status, _ = await client.get("requests", api_key=client.key, service_request_id=f"{many},1")
    assert status == 400


async def test_whole_for_the_keys_community_published_for_another(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "xml") as client:
        south = await client.file(**FILED)
        north = await client.file(jurisdiction_id="bgy-north", address_string="72号楼")
        mine = await keys.create_key(loaded, name="jzsj-app", communities=["jzsj-south"])
        both = f"{south},{north}"
        status, found = await client.get("requests", api_key=mine, service_request_id=both)
        assert status == 200
        addresses = {int(r["service_request_id"]): r["address"] for r in found}
        assert addresses == {south: "172号楼门口", north: None}
        status, found = await client.get("requests", api_key=client.key, service_request_id=both)
        addresses = {int(r["service_request_id"]): r["address"] for r in found}
        assert addresses == {south: "172号楼门口", north: "72号楼"}  # a key for any community
        # Naming the jurisdiction keeps to it, with or without a key.
        status, found = await client.get(
            "requests", service_request_id=both, jurisdiction_id="bgy-north"
        )
        assert [int(r["service_request_id"]) for r in found] == [north]


async def test_closed_ones_whole_under_public_read(loaded: ServiceContext, clock: Clock) -> None:
    async with open311_client(loaded, clock, "json", open311_public_read=True) as client:
        opened = await client.file(**FILED)
        closed = await client.file(description="已办的快递")
        await _done(client, closed)
        status, found = await client.get("requests", service_request_id=f"{opened},{closed}")
        assert status == 200
        assert [(r["status"], r["description"]) for r in found] == [
            ("closed", "已办的快递"),
            ("open", None),
        ]
