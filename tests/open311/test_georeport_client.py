"""A standard client nobody here wrote — the PyPI ``georeport`` 0.3.1, which never sends a key on
a read — against the app served by uvicorn on loopback: a city files a request with its key,
then follows it with ``georeport`` and no key, from routed to closed, in JSON and in XML."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from georeport import GeoReport

from bot.open311 import keys
from bot.open311.routes import Open311Api
from bot.services.cases import lifecycle
from bot.services.unit.context import Actor, ServiceContext
from bot.web import create_web_app
from core.cases import Rating
from db.models import Case
from sandbox.serve import serving
from tests.conftest import Clock
from tests.open311.conftest import settings_for

MANAGER = Actor("mgr-jzsj-south", "telegram")


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_georeport_follows_what_the_city_filed_without_a_key(
    loaded: ServiceContext, clock: Clock, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEOREPORT_API_KEY", raising=False)  # its fallback: no key at all
    key = await keys.create_key(loaded, name="beijing-12345", communities=["jzsj-south"])
    app = create_web_app(loaded, Open311Api(loaded, settings_for(loaded), lambda: None).routes())
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        posted = await http.post(
            "/open311/v2/requests.json",
            headers={"X-Api-Key": key},
            data={
                "service_code": "parcels",
                "address_string": "172号楼东门",
                "description": "172号楼东门快递堆放占道",
            },
        )
        assert posted.status_code == 200, posted.text
        number = posted.json()[0]["service_request_id"]
        assert isinstance(number, str)

        client = GeoReport(f"{base}/open311/v2", jurisdiction="jzsj-south", output_format=fmt)
        assert client.api_key is None

        async def read() -> dict[str, str | None]:
            # georeport is synchronous (requests): off the loop that serves it.
            found = await asyncio.to_thread(client.get_service_request, number)
            assert isinstance(found, dict)
            return found

        services = await asyncio.to_thread(client.get_service_list)
        assert "parcels" in [s["service_code"] for s in services]
        definition = await asyncio.to_thread(client.get_service_definition, "parcels")
        assert definition["service_code"] == "parcels"

        routed = await read()
        assert str(routed["service_request_id"]) == number
        assert (routed["status"], routed["status_notes"]) == ("open", "派单")
        assert routed["service_code"] == "parcels"
        assert routed["agency_responsible"] == "嘉州水郡南区社区物业负责人"
        assert routed["requested_datetime"] == "2026-11-25T10:00:00+08:00"
        assert routed["description"] is None  # not for a reader without the key

        await lifecycle.acknowledge(loaded, number=int(number), actor=MANAGER)
        acknowledged = await read()
        assert (acknowledged["status"], acknowledged["status_notes"]) == ("open", "接单")

        clock.advance(hours=3)
        await lifecycle.resolve(loaded, number=int(number), actor=MANAGER)
        async with loaded.db.reading() as session:
            case = await session.get(Case, int(number))
        assert case is not None
        resident = Actor(case.resident_id, "sms")
        await lifecycle.rate(loaded, number=int(number), actor=resident, rating=Rating.SATISFIED)
        closed = await read()
        assert (closed["status"], closed["status_notes"]) == ("closed", "评价；评价：满意")
        assert closed["updated_datetime"] == "2026-11-25T13:00:00+08:00"

        # The spec's list by id, as georeport asks for it.
        listed = await asyncio.to_thread(client.get_service_requests, service_request_id=number)
        one = listed[0] if isinstance(listed, list) else listed  # XML: one item is no list
        assert (str(one["service_request_id"]), one["status"]) == (number, "closed")
