"""The OpenAPI description: a valid OpenAPI 3.1 document every operation of which loads, covering
every route the channels and the HTTP server register for integrators (a new route without a
description fails here), describing no route the server does not have, and served as it is built."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from starlette.routing import BaseRoute, Mount, Route

from bot import openapi
from bot.channels import BOOK
from bot.config import Settings
from bot.open311.formats import FORMATS
from bot.open311.routes import BASE
from bot.runtime import Stack
from bot.services.unit.context import ServiceContext
from db.engine import open_database
from sandbox.harness import WEBHOOK_SECRET, sqlite_url

PUBLIC = "https://wolaiban.example.org"
# Served, but not to integrators, so not described: the operator's scrape (reference §8), the
# staff's browser console (§9), and the catch-all that answers 404 under the Open311 endpoint.
NOT_DESCRIBED = {"/metrics", "/console", f"{BASE}/{{rest:path}}"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """The stack ``wolaiban run`` builds with every channel on (Telegram by webhook, Twilio, the
    console), never started: its routes are what a request can reach."""
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url(tmp_path / "wolaiban.db"),
        public_url=PUBLIC,
        telegram_bot_token="123456:loopback-token-not-used",
        telegram_webhook_url=f"{PUBLIC}/telegram/webhook",
        telegram_webhook_secret=WEBHOOK_SECRET,
        twilio_account_sid="AC" + "0123456789abcdef" * 2,
        twilio_auth_token="fedcba9876543210" * 2,
        twilio_from_number="+8610690000099",
        console_secret="a-console-secret-for-the-route-list",
    )
    db = open_database(settings.database_url)
    yield Stack(settings, ServiceContext(channels=BOOK, db=db), scheduled_digests=False)
    await db.dispose()


def described_as(route_path: str) -> list[str]:
    """The OpenAPI paths of a Starlette route path: ``{name:convertor}`` is ``{name}``, and an
    Open311 ``{fmt}`` is one path per format."""
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route_path)
    if "{fmt}" in path:
        return [path.replace("{fmt}", fmt) for fmt in FORMATS]
    return [path]


def _methods(route: BaseRoute) -> set[str]:
    # Starlette adds HEAD to every GET; the description leaves it implied.
    return {m.lower() for m in (getattr(route, "methods", None) or ())} - {"head"}


def _integrators_routes(routes: list[BaseRoute]) -> Iterator[Route]:
    for route in routes:
        assert isinstance(route, Route | Mount), route
        if route.path not in NOT_DESCRIBED:
            assert isinstance(route, Route), f"a mount the description knows nothing of: {route}"
            yield route


def test_the_description_is_valid_openapi_and_every_operation_loads() -> None:
    document = openapi.document()
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(
        len(HTTP_METHODS & set(item)) for item in document["paths"].values()
    )
    assert json.loads(json.dumps(document)) == document  # plain JSON all through


def test_every_open311_document_has_its_xml_view() -> None:
    """Each document (a schema naming its XML root) has its XML view, rooted the same."""
    schemas = openapi.document()["components"]["schemas"]
    documents = {name: s for name, s in schemas.items() if not name.endswith("Xml")}
    roots = {name: s["xml"]["name"] for name, s in documents.items() if "xml" in s}
    assert set(roots) >= {"Errors", "Services", "ServiceDefinition", "ServiceRequests", "Created"}
    assert {name: schemas[f"{name}Xml"]["xml"]["name"] for name in roots} == roots


def test_every_route_an_integrator_can_reach_is_described(stack: Stack) -> None:
    paths = openapi.document()["paths"]
    missing = []
    for route in _integrators_routes(stack.web.routes):
        for path in described_as(route.path):
            described = HTTP_METHODS & set(paths.get(path, {}))
            if described != _methods(route):
                missing.append(
                    f"{path}: served {sorted(_methods(route))}, described {sorted(described)}"
                )
    assert not missing, "\n".join(missing)


def test_the_routes_left_undescribed_are_still_there(stack: Stack) -> None:
    """An exemption that matches no route any more would shelter the next one."""
    assert {getattr(route, "path", None) for route in stack.web.routes} >= NOT_DESCRIBED


def test_the_stack_serves_every_described_route_and_the_description(stack: Stack) -> None:
    served = {
        p for route in _integrators_routes(stack.web.routes) for p in described_as(route.path)
    }
    not_served = set(openapi.document()["paths"]) - served
    assert not not_served, (
        f"described but not served: {sorted(not_served)} "
        "(GET /openapi.json: mount bot.openapi.routes() in bot.web.create_web_app)"
    )


async def test_get_openapi_json_answers_the_description(stack: Stack) -> None:
    if not any(getattr(route, "path", None) == openapi.PATH for route in stack.web.routes):
        pytest.fail("GET /openapi.json is not mounted: add bot.openapi.routes() to create_web_app")
    transport = httpx.ASGITransport(app=stack.web)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        response = await client.get(openapi.PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == openapi.document()
