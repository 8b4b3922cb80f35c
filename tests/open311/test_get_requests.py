"""GET requests and GET requests/{id} from the spec's text: every field, open for a case still
being handled and closed once it is done, the filters (ids override the rest, service codes,
the requested-time range of at most 90 days, status), times in ISO 8601 with their offset; no
phone or name in any answer; searches need a key unless the operator opens closed ones."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.open311 import keys
from bot.services.cases import lifecycle
from bot.services.unit.context import Actor
from core.cases import Rating
from db.models import Case
from tests.open311.conftest import Client, error_of, open311_client, text

FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
MANAGER = Actor("mgr-jzsj-south", "telegram")


async def _done(client: Client, number: int, rating: Rating = Rating.SATISFIED) -> None:
    """The manager acknowledges (unless done) and resolves; the resident rates."""
    async with client.ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    if case.status == "assigned":
        await lifecycle.acknowledge(client.ctx, number=number, actor=MANAGER)
    await lifecycle.resolve(client.ctx, number=number, actor=MANAGER)
    resident = Actor(case.resident_id, "sms")
    await lifecycle.rate(client.ctx, number=number, actor=resident, rating=rating)


async def _requests(client: Client, **params: Any) -> list[dict[str, Any]]:
    status, body = await client.get("requests", api_key=client.key, **params)
    assert status == 200, body
    assert isinstance(body, list)
    return body


async def test_every_field_of_an_open_request(client: Client) -> None:
    number = await client.file(
        lat="39.7285", long="116.1903", address_id="BJ-FS-0172", media_url=""
    )
    status, body = await client.get(f"requests/{number}", api_key=client.key)
    assert status == 200
    (request,) = body
    assert list(request) == FIELDS
    assert text(request["service_request_id"]) == str(number)
    assert request["status"] == "open"
    assert request["status_notes"] == "派单"  # routed: the latest step, in words
    assert (request["service_code"], request["service_name"]) == ("parcels", "快递堆放占道")
    assert request["description"] == "快递堆在172号楼门口占道"
    assert request["agency_responsible"] == "嘉州水郡南区社区物业负责人"
    assert request["service_notice"]
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3C.match(request[name]), request[name]
        assert request[name].endswith("+08:00")  # the directory's zone, with its offset
    assert request["requested_datetime"] == "2026-11-25T10:00:00+08:00"
    assert request["expected_datetime"] == "2026-11-28T10:00:00+08:00"  # 72 h to resolve
    assert request["address"] == "172号楼门口"
    assert text(request["address_id"]) == "BJ-FS-0172"
    assert float(request["lat"]) == 39.7285
    assert float(request["long"]) == 116.1903


async def test_open_then_closed_with_the_rating_in_status_notes(client: Client) -> None:
    number = await client.file(phone="+8613900000088")
    await lifecycle.acknowledge(client.ctx, number=number, actor=MANAGER)
    (request,) = await _requests(client, service_request_id=str(number))
    assert (request["status"], request["status_notes"]) == ("open", "接单")
    client.clock.advance(hours=2)
    await _done(client, number)
    (request,) = await _requests(client, service_request_id=str(number))
    assert request["status"] == "closed"
    assert request["status_notes"] == "评价；评价：满意"
    assert request["updated_datetime"] == "2026-11-25T12:00:00+08:00"  # when it closed
    _, english = await client.get(f"requests/{number}", api_key=client.key, locale="en")
    assert english[0]["status_notes"] == "rated; rating: satisfied"
    assert english[0]["agency_responsible"] == "property manager, Jiazhou Shuijun South"


async def test_filters(client: Client) -> None:
    parcels = await client.file()
    leak = await client.file(service_code="water-leak", description="楼道漏水")
    other = await client.file(
        jurisdiction_id="bgy-north", address_string="72号楼", description="72号楼快递"
    )
    await _done(client, parcels)
    numbers = lambda found: sorted(int(r["service_request_id"]) for r in found)  # noqa: E731
    assert numbers(await _requests(client)) == [parcels, leak, other]
    assert numbers(await _requests(client, status="open")) == [leak, other]
    assert numbers(await _requests(client, status="closed")) == [parcels]
    assert numbers(await _requests(client, status="open,closed")) == [parcels, leak, other]
    assert numbers(await _requests(client, service_code="water-leak,noise")) == [leak]
    assert numbers(await _requests(client, jurisdiction_id="bgy-north")) == [other]
    # service_request_id overrides every other argument.
    ids = f"{parcels},{leak}"
    assert numbers(await _requests(client, service_request_id=ids, status="open")) == [
        parcels,
        leak,
    ]
    newest_first = [int(r["service_request_id"]) for r in await _requests(client)]
    assert newest_first == sorted(newest_first, reverse=True)


async def test_dates_default_to_the_last_90_days(client: Client) -> None:
    client.clock.advance(days=-100)
    old = await client.file(description="很久以前的快递")
    client.clock.advance(days=100)
    recent = await client.file()
    assert [int(r["service_request_id"]) for r in await _requests(client)] == [recent]
    found = await _requests(
        client, start_date="2026-08-01T00:00:00Z", end_date="2026-10-01T00:00:00+08:00"
    )
    assert [int(r["service_request_id"]) for r in found] == [old]
    found = await _requests(client, start_date="2026-11-25T09:59:00+08:00")
    assert [int(r["service_request_id"]) for r in found] == [recent]
    found = await _requests(client, end_date="2026-08-20T00:00:00Z")
    assert [int(r["service_request_id"]) for r in found] == [old]
    assert client.clock.now - timedelta(days=1) < client.clock.now


async def test_bad_arguments_are_400(client: Client) -> None:
    for params in (
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        {"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"},
        {"start_date": "yesterday"},
        {"status": "pending"},
        {"service_request_id": "1,abc"},
        {"service_request_id": "9" * 40},
    ):
        status, body = await client.get("requests", api_key=client.key, **params)
        assert status == 400, params
        assert error_of(body)[0] == "400"


async def test_searches_need_a_key_unless_closed_ones_are_public(loaded: Any, clock: Any) -> None:
    async with open311_client(loaded, clock, "json") as client:
        number = await client.file()
        status, body = await client.get("requests")
        assert status == 403
        assert error_of(body)[0] == "403"
        status, _ = await client.get("requests", status="open")
        assert status == 403
        status, _ = await client.get("requests", api_key="wrong")
        assert status == 403
        # By id no key is needed (tests/open311/test_keyless_reads.py says what is served).
        assert (await client.get(f"requests/{number}"))[0] == 200
    async with open311_client(
        loaded, clock, "xml", key_name="second", open311_public_read=True
    ) as public:
        closed = await public.file(description="已办的快递")
        await _done(public, closed)
        status, found = await public.get("requests")
        assert status == 200
        assert [int(r["service_request_id"]) for r in found] == [closed]  # closed ones only
        assert found[0]["description"] == "已办的快递"  # and whole
        # Open ones, by id: what anyone may read, the resident's words withheld.
        status, (opened,) = await public.get(f"requests/{number}")
        assert status == 200
        assert (opened["status"], opened["description"]) == ("open", None)
        status, (done,) = await public.get(f"requests/{closed}")
        assert (status, done["description"]) == (200, "已办的快递")


async def test_a_key_sees_its_own_communities_whole(client: Client) -> None:
    mine = await client.file(jurisdiction_id="bgy-north", address_string="72号楼")
    theirs = await client.file()
    limited = await keys.create_key(client.ctx, name="bgy-app", communities=["bgy-north"])
    status, found = await client.get("requests", api_key=limited)
    assert status == 200
    assert [int(r["service_request_id"]) for r in found] == [mine]
    # Another community's request, by id: as a reader without a key sees it.
    status, (other,) = await client.get(f"requests/{theirs}", api_key=limited)
    assert status == 200
    assert (other["status"], other["service_code"]) == ("open", "parcels")
    assert (other["description"], other["address"]) == (None, None)
    status, both = await client.get(
        "requests", api_key=limited, service_request_id=f"{mine},{theirs}"
    )
    assert status == 200
    described = {int(r["service_request_id"]): r["address"] for r in both}
    assert described == {mine: "72号楼", theirs: None}
    status, _ = await client.get("requests", api_key=limited, jurisdiction_id="jzsj-south")
    assert status == 403


async def test_unknown_requests_are_404(client: Client) -> None:
    for name in ("12345", "abc", "0", "99999999999999"):
        status, body = await client.get(f"requests/{name}", api_key=client.key)
        assert status == 404, name
        assert error_of(body)[0] == "404"


async def test_no_phone_or_name_in_any_answer(client: Client) -> None:
    number = await client.file(
        phone="+8613900000066",
        first_name="三丰",
        last_name="张",
        description="张三丰反映：快递堆在门口，电话 139-0000-0066 随时联系",
    )
    await client.file(
        phone="+8613900000001",
        first_name="大爷",
        last_name="李",
        description="李大爷说快递又堆满了",
    )
    for path in (f"requests/{number}", "requests"):
        response = await client.http.get(client.url(path), params={"api_key": client.key})
        body = response.content.decode()
        assert response.status_code == 200
        for secret in ("13900000066", "139-0000-0066", "三丰", "王经理", "李大爷", "+86"):
            assert secret not in body, (path, secret)
    _, body = await client.get(f"requests/{number}", api_key=client.key)
    assert "快递堆在门口" in body[0]["description"]  # the rest of the text is served


async def test_at_most_1000_requests_newest_first(loaded: Any, clock: Any) -> None:
    async with open311_client(loaded, clock, "json") as client:
        newest = await client.file()  # the template the others are copied from
        async with loaded.db.transaction() as session:
            case = await session.get(Case, newest)
            assert case is not None
            template = case.model_dump(exclude={"number"})
            for minutes in range(1, 1001):
                older = {**template, "created_at": case.created_at - timedelta(minutes=minutes)}
                session.add(Case(**older))
        found = await _requests(client)
        assert len(found) == 1000
        assert int(found[0]["service_request_id"]) == newest
        assert found[-1]["requested_datetime"] > "2026-11-24"


async def test_a_resident_past_their_case_limit_is_429(client: Client) -> None:
    for _ in range(5):
        await client.file(phone="+8613900000055")
    response = await client.http.post(
        client.url("requests"),
        data={
            "api_key": client.key,
            "service_code": "parcels",
            "jurisdiction_id": "jzsj-south",
            "address_string": "172号楼",
            "description": "又一件",
            "phone": "+8613900000055",
        },
    )
    assert response.status_code == 429
    assert response.headers["retry-after"].isdigit()
    assert error_of(client.read(response))[0] == "429"


async def test_dates_at_the_calendars_ends_and_numbers_past_the_column_are_clear(
    client: Client,
) -> None:
    # Found by the OpenAPI fuzzer: these were 500s (an OverflowError; PostgreSQL's int32).
    for params in (
        {"start_date": "9999-12-31T23:59:59Z"},
        {"end_date": "0001-01-01T00:00:00Z"},
        {"end_date": "0001-01-01T00:00:00+14:00"},
    ):
        status, _ = await client.get("requests", api_key=client.key, **params)
        assert status == 400, params
    status, found = await client.get(
        "requests", api_key=client.key, service_request_id="2147483648"
    )
    assert (status, found) == (200, [])
