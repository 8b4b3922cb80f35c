"""Every JSON answer validates against GeoReport v2's documents as JSON Schemas written from the
spec's field lists (tests/open311/schemas/): services, a definition, the POST answer, a request
and the request list (whole and as published, by id and paged), discovery and the errors. Ids
are strings, every field the spec lists is there, and nothing else is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from tests.conftest import Clock
from tests.open311.conftest import open311_client

SCHEMAS = Path(__file__).with_name("schemas")


def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$id"] == path.name, path
        resources.append((path.name, Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validator(name: str) -> Draft202012Validator:
    """The validator of schema ``name`` (its references resolved among the others)."""
    schema = REGISTRY.contents(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=REGISTRY)


def valid(name: str, document: Any) -> None:
    """``document`` is valid against schema ``name``; every error listed when it is not."""
    found = validator(name).iter_errors(document)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in found]
    assert not errors, "\n".join(errors)


def test_the_schemas_reject_what_the_spec_does_not_allow() -> None:
    """They can fail: a numeric id, a missing field, a field the spec does not list."""
    request = {
        "service_request_id": "12",
        "status": "open",
        "status_notes": None,
        "service_name": "快递堆放占道",
        "service_code": "parcels",
        "description": None,
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2026-11-25T10:00:00+08:00",
        "updated_datetime": None,
        "expected_datetime": None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    valid("requests.json", [request])
    for wrong in (
        {**request, "service_request_id": 12},
        {k: v for k, v in request.items() if k != "status"},
        {**request, "phone": "+8613900000001"},
        {**request, "requested_datetime": "2026-11-25 10:00"},
    ):
        with pytest.raises(ValidationError):
            validator("requests.json").validate([wrong])
    with pytest.raises(ValidationError):
        validator("created.json").validate([{"service_request_id": 12}])


async def test_every_answer_validates(loaded: ServiceContext, clock: Clock) -> None:
    async with open311_client(loaded, clock, "json") as client:
        get = client.get
        status, discovery = await get("discovery")
        assert status == 200
        valid("discovery.json", discovery)
        status, services = await get("services")
        assert status == 200
        assert services
        valid("services.json", services)
        for service in services:
            for params in ({}, {"jurisdiction_id": "jzsj-south"}):
                status, definition = await get(f"services/{service['service_code']}", **params)
                assert status == 200
                valid("service_definition.json", definition)

        status, created = await client.post(
            service_code="parcels",
            jurisdiction_id="jzsj-south",
            address_string="172号楼门口",
            description="快递堆在172号楼门口占道",
            lat="39.7285",
            long="116.1903",
            account_id="acct-1",
        )
        assert status == 200
        valid("created.json", created)
        number = created[0]["service_request_id"]
        assert isinstance(number, str)
        other = await client.file(jurisdiction_id="bgy-north", address_string="72号楼")

        limited = await keys.create_key(loaded, name="bgy-app", communities=["bgy-north"])
        for reader in ({"api_key": client.key}, {"api_key": limited}, {}):
            status, one = await get(f"requests/{number}", **reader)
            assert status == 200
            valid("requests.json", one)
            status, listed = await get("requests", service_request_id=f"{number},{other}", **reader)
            assert status == 200
            assert len(listed) == 2
            valid("requests.json", listed)
        for params in ({}, {"page": "1"}, {"page": "2", "page_size": "1"}, {"status": "open"}):
            status, found = await get("requests", api_key=client.key, **params)
            assert status == 200
            assert found
            valid("requests.json", found)

        for resource, params, code in (
            ("requests", {}, 403),
            ("requests", {"api_key": client.key, "page": "0"}, 400),
            ("requests", {"service_request_id": ",".join(["1"] * 51)}, 400),
            ("requests/999", {}, 404),
            ("services/nothing", {}, 404),
            ("services", {"api_key": "o311_wrong"}, 403),
        ):
            status, error = await get(resource, **params)
            assert status == code, (resource, params)
            valid("errors.json", error)
            assert error[0]["code"] == code


async def test_past_the_read_limit_the_error_validates(
    loaded: ServiceContext, clock: Clock
) -> None:
    async with open311_client(loaded, clock, "json", open311_reads_per_minute=1) as client:
        assert (await client.get("services"))[0] == 200
        status, error = await client.get("services")
        assert status == 429
        valid("errors.json", error)
