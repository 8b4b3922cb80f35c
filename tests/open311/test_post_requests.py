"""POST requests from the spec's text: a form-encoded request with ``api_key`` files a case
routed like any other and answers ``[{service_request_id, service_notice, account_id}]``;
hostile or wrong input answers 400/403/404 with an error body and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from bot.open311 import keys
from db.models import Case, CaseEvent, CasePhoto, Identity, OutboxMessage, Person
from sandbox.serve import serving
from tests.open311.conftest import Client, error_of, open311_client, text
from tests.open311.images import app as images

VALID = {
    "service_code": "parcels",
    "jurisdiction_id": "jzsj-south",
    "address_string": "172号楼门口",
    "description": "快递堆在172号楼门口占道",
}


async def _one(client: Client, model: Any, **where: Any) -> Any:
    async with client.ctx.db.reading() as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return (await session.exec(query)).all()


async def test_a_filed_request_is_a_routed_case_of_channel_open311(client: Client) -> None:
    status, body = await client.post(**VALID, account_id="acct-9", first_name="张", last_name="三")
    assert status == 200
    (answer,) = body
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert text(answer["account_id"]) == "acct-9"
    assert "嘉州水郡南区社区" in answer["service_notice"]
    number = int(answer["service_request_id"])
    (case,) = await _one(client, Case, number=number)
    assert (case.channel, case.community_id, case.category_id) == (
        "open311",
        "jzsj-south",
        "parcels",
    )
    assert case.status == "assigned"
    assert case.manager_id == "mgr-jzsj-south"
    assert case.description == VALID["description"]
    assert case.location == "172号楼门口"
    reported = [
        e for e in await _one(client, CaseEvent, case_number=number) if e.kind == "reported"
    ]
    assert [(e.channel, e.note, e.data.get("api_key")) for e in reported] == [
        ("open311", "city-12345", "city-12345")
    ]
    # The manager is told as for any channel: a card with buttons on Telegram.
    cards = await _one(client, OutboxMessage, case_number=number, person_id="mgr-jzsj-south")
    assert [c.channel for c in cards] == ["telegram"]
    assert "ack:" in str(cards[0].buttons)
    assert "张" not in answer["service_notice"]


async def test_a_phone_makes_the_resident_reachable_by_sms(client: Client) -> None:
    number = await client.file(phone="139 0000 0088")
    (case,) = await _one(client, Case, number=number)
    (identity,) = await _one(client, Identity, person_id=case.resident_id)
    assert (identity.channel, identity.address) == ("sms", "+8613900000088")
    told = await _one(client, OutboxMessage, case_number=number, person_id=case.resident_id)
    assert [m.channel for m in told] == ["sms"]
    assert f"#{number}" in told[0].text
    # A directory resident's phone is contact data only: the case is not theirs.
    again = await client.file(phone="+8613900000001")
    (theirs,) = await _one(client, Case, number=again)
    assert theirs.resident_id not in ("r-jzsj-172", case.resident_id)


async def test_the_same_account_is_the_same_resident(client: Client) -> None:
    first = await client.file(account_id="u-1")
    second = await client.file(account_id="u-1")
    third = await client.file()
    residents = {
        n: (await _one(client, Case, number=n))[0].resident_id for n in (first, second, third)
    }
    assert residents[first] == residents[second] != residents[third]


async def test_4000_characters_are_kept_whole(client: Client) -> None:
    description = "漏" * 4000
    number = await client.file(description=description)
    (case,) = await _one(client, Case, number=number)
    assert case.description == description


async def test_lat_long_alone_is_a_location(client: Client) -> None:
    form = {**VALID, "address_string": "", "lat": "39.7285", "long": "116.1903"}
    status, body = await client.post(**form)
    assert status == 200, body
    (case,) = await _one(client, Case, number=int(body[0]["service_request_id"]))
    assert "39.728500" in case.location
    building = {**VALID, "address_string": "", "attribute[building]": "173"}
    status, body = await client.post(**building)
    assert status == 200, body


async def test_the_only_community_of_a_key_needs_no_jurisdiction(client: Client) -> None:
    limited = await keys.create_key(client.ctx, name="bgy-app", communities=["bgy-north"])
    form = {**VALID, "jurisdiction_id": "", "address_string": "72号楼", "api_key": limited}
    status, body = await client.post(**form)
    assert status == 200, body
    (case,) = await _one(client, Case, number=int(body[0]["service_request_id"]))
    assert case.community_id == "bgy-north"
    via_attribute = {**form, "attribute[community]": "bgy-north"}
    assert (await client.post(**via_attribute))[0] == 200


async def test_media_url_becomes_the_cases_photo(client: Client) -> None:
    async with serving(images) as base:
        number = await client.file(media_url=f"{base}/photo.png")
    photos = await _one(client, CasePhoto, case_number=number)
    assert [(p.source, p.content_type) for p in photos] == [("open311", "image/png")]
    assert photos[0].content is not None
    assert photos[0].content.startswith(b"\x89PNG")


HOSTILE = [
    pytest.param({"api_key": ""}, 403, id="missing key"),
    pytest.param({"api_key": "o311_wrong"}, 403, id="wrong key"),
    pytest.param({"api_key": "x" * 10_000}, 403, id="huge key"),
    pytest.param({"description": "漏" * 4001}, 400, id="4001 characters"),
    pytest.param({"description": "   "}, 400, id="no description"),
    pytest.param({"lat": "91", "long": "116"}, 400, id="latitude out of range"),
    pytest.param({"lat": "39.7", "long": "-181"}, 400, id="longitude out of range"),
    pytest.param({"lat": "39.7"}, 400, id="lat without long"),
    pytest.param({"lat": "NaN", "long": "116"}, 400, id="NaN"),
    pytest.param({"lat": "inf", "long": "1"}, 400, id="infinity"),
    pytest.param({"lat": "39,7", "long": "116"}, 400, id="not a number"),
    pytest.param({"service_code": "potholes"}, 404, id="unknown service code"),
    pytest.param({"service_code": ""}, 400, id="no service code"),
    pytest.param({"jurisdiction_id": "sfgov.org"}, 404, id="unknown jurisdiction"),
    pytest.param({"jurisdiction_id": ""}, 400, id="no jurisdiction, several communities"),
    pytest.param({"attribute[community]": "bgy-north"}, 400, id="two communities"),
    pytest.param({"address_string": ""}, 400, id="no location"),
    pytest.param({"attribute[building]": "999"}, 400, id="a building it does not have"),
    pytest.param({"phone": "call me"}, 400, id="not a phone"),
    pytest.param({"phone": "+86"}, 400, id="too short a phone"),
    pytest.param({"address_string": "路" * 1001}, 400, id="huge address"),
    pytest.param({"first_name": "名" * 65}, 400, id="huge name"),
    pytest.param({"media_url": "file:///etc/passwd"}, 400, id="media_url file scheme"),
    pytest.param({"media_url": "http://10.0.0.1/a.png"}, 400, id="media_url private address"),
    pytest.param({"media_url": "http://169.254.169.254/latest/meta-data/"}, 400, id="link-local"),
    pytest.param({"media_url": "http://[::1]:9/a.png"}, 400, id="media_url IPv6 loopback"),
]


@pytest.mark.parametrize(("change", "status"), HOSTILE)
async def test_hostile_input_is_refused_and_writes_nothing(
    client: Client, change: dict[str, str], status: int
) -> None:
    before = await client.tables()
    got, body = await client.post(**{**VALID, **change})
    assert got == status, body
    code, description = error_of(body)
    assert code == str(status)
    assert len(description) < 300
    after = await client.tables()
    assert {k: v for k, v in after.items() if k != "open311_post"} == {
        k: v for k, v in before.items() if k != "open311_post"
    }


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/page.html", "不是图片"), ("/huge.jpg", "超过大小上限"), ("/lie.png", "不是图片")],
)
async def test_media_that_is_no_image_or_too_big_is_refused(
    loaded: Any, clock: Any, path: str, reason: str
) -> None:
    async with open311_client(loaded, clock, "json", media_max_bytes=200_000) as client:
        async with serving(images) as base:
            before = await client.tables()
            status, body = await client.post(**VALID, media_url=f"{base}{path}")
        assert status == 400
        assert reason in error_of(body)[1]
        assert "media_url" in error_of(body)[1]
        after = await client.tables()
        assert after["cases"] == before["cases"]
        assert after["case_photo"] == before["case_photo"]


async def test_loopback_media_is_refused_unless_the_operator_allows_it(
    loaded: Any, clock: Any
) -> None:
    async with (
        open311_client(loaded, clock, "xml", media_fetch_allow="") as client,
        serving(images) as base,
    ):
        status, body = await client.post(**VALID, media_url=f"{base}/photo.png")
    assert status == 400
    assert "公网单播" in error_of(body)[1]


async def test_a_revoked_key_files_nothing(client: Client) -> None:
    await keys.revoke_key(client.ctx, name="city-12345")
    status, body = await client.post(**VALID)
    assert status == 403
    assert "吊销" in error_of(body)[1]
    assert await _one(client, Case) == []


async def test_a_key_may_not_file_in_another_community(client: Client) -> None:
    limited = await keys.create_key(client.ctx, name="bgy-app", communities=["bgy-north"])
    status, body = await client.post(**{**VALID, "api_key": limited})
    assert status == 403
    assert "jzsj-south" in error_of(body)[1]
    assert await _one(client, Case) == []


async def test_json_error_descriptions_follow_the_language(client: Client) -> None:
    response = await client.http.post(
        client.url("requests"),
        data={**VALID, "api_key": "nope"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert "Invalid api_key" in error_of(client.read(response))[1]


async def test_names_and_phones_never_come_back(client: Client) -> None:
    response = await client.http.post(
        client.url("requests"),
        data={
            **VALID,
            "api_key": client.key,
            "first_name": "三丰",
            "last_name": "张",
            "phone": "+8613900000077",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "三丰" not in body
    assert "13900000077" not in body
    people = await _one(client, Person, source="open311")
    assert [p.name for p in people] == ["张三丰"]  # the manager's card shows who reported


async def test_phone_forms_are_read_as_international(client: Client) -> None:
    from bot.open311.form import phone_of

    assert phone_of("+86 139-0000-0001") == "+8613900000001"
    assert phone_of("13900000001") == "+8613900000001"
    assert phone_of(" 8613900000001") == "+8613900000001"  # a "+" sent unencoded
    assert phone_of("008613900000001") == "+8613900000001"
    assert phone_of("") is None
