"""An Open311 client's view of Wolaiban: the HTTP app with the GeoReport v2 routes on a loaded
directory, a key, and the answers read as the spec writes them — JSON as is, XML (parsed with
defusedxml) mapped by the Spark convention the spec names (a list's wrapper is an array)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree

from bot.config import Settings
from bot.open311 import keys
from bot.open311.routes import Open311Api
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from tests.cli.conftest import cli, loaded_cli, table_contents  # noqa: F401 - fixtures too
from tests.conftest import Clock

# The GeoReport v2 documents' list elements and the element of each item (the spec's examples).
LISTS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
FORMATS = ("json", "xml")


def from_xml(body: bytes) -> Any:
    """An XML answer as the JSON the Spark convention maps it to (every leaf a string or None)."""
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
    return _element(ElementTree.fromstring(body))


def _element(element: Any) -> Any:
    children = list(element)
    if element.tag in LISTS:
        assert all(child.tag == LISTS[element.tag] for child in children), element.tag
        return [_element(child) for child in children]
    if children:
        return {child.tag: _element(child) for child in children}
    return element.text if element.text not in (None, "") else None


def text(value: Any) -> str | None:
    """A JSON value as the XML carries it, so one assertion reads both formats."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class Client:
    """An Open311 client against the app, in one format."""

    http: httpx.AsyncClient
    fmt: str
    ctx: ServiceContext
    clock: Clock
    key: str

    def url(self, resource: str) -> str:
        return f"/open311/v2/{resource}.{self.fmt}"

    def read(self, response: httpx.Response) -> Any:
        """The document, whichever the format; its Content-Type checked against the spec's."""
        kind = response.headers["content-type"]
        if self.fmt == "xml":
            assert kind == "text/xml; charset=utf-8"
            return from_xml(response.content)
        assert kind == "application/json; charset=utf-8"
        return response.json()

    async def get(self, resource: str, **params: Any) -> tuple[int, Any]:
        response = await self.http.get(self.url(resource), params=params)
        return response.status_code, self.read(response)

    async def post(self, **form: Any) -> tuple[int, Any]:
        form.setdefault("api_key", self.key)
        response = await self.http.post(self.url("requests"), data=form)
        return response.status_code, self.read(response)

    async def file(self, **form: Any) -> int:
        """POST a valid request (defaults over ``form``); its service_request_id."""
        fields = {
            "service_code": "parcels",
            "jurisdiction_id": "jzsj-south",
            "address_string": "172号楼门口",
            "description": "快递堆在172号楼门口占道",
            **form,
        }
        status, body = await self.post(**fields)
        assert status == 200, body
        return int(body[0]["service_request_id"])

    async def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        return await table_contents(self.ctx.db)


def error_of(body: Any) -> tuple[str | None, str]:
    """The one error of an error document: its code (as text) and description."""
    assert isinstance(body, list), body
    assert len(body) >= 1, body
    assert set(body[0]) == {"code", "description"}, body
    assert body[0]["description"], body
    return text(body[0]["code"]), body[0]["description"]


def settings_for(ctx: ServiceContext, **values: Any) -> Settings:
    base: dict[str, Any] = {"database_url": ctx.db.url, "media_fetch_allow": "127.0.0.1"}
    return Settings(_env_file=None, **{**base, **values})


@asynccontextmanager
async def open311_client(
    ctx: ServiceContext, clock: Clock, fmt: str, *, key_name: str = "city-12345", **values: Any
) -> AsyncIterator[Client]:
    """The app (its Open311 routes on ``settings_for(ctx, **values)``) and a key for any
    community, as a client in ``fmt``."""
    api = Open311Api(ctx, settings_for(ctx, **values), kick=lambda: None)
    app = create_web_app(ctx, api.routes())
    key = await keys.create_key(ctx, name=key_name, communities=[])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban.test") as http:
        yield Client(http, fmt, ctx, clock, key)


@pytest.fixture(params=FORMATS)
async def client(
    request: pytest.FixtureRequest, loaded: ServiceContext, clock: Clock
) -> AsyncIterator[Client]:
    """An Open311 client in each format, the example directory loaded."""
    async with open311_client(loaded, clock, request.param) as made:
        yield made
