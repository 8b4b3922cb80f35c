"""The OpenAPI 3.1 description of what an integrator calls, served at ``GET /openapi.json``:
``openapi.yaml`` beside this file, with the Open311 endpoints added here in both formats."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.open311.formats import ITEMS, MEDIA_TYPES
from bot.open311.routes import BASE

PATH = "/openapi.json"
SOURCE = Path(__file__).with_name("openapi.yaml")
Schema = dict[str, Any]

# What each refusal means, for every Open311 endpoint that may answer it (408 and 413 come from
# the body's bounds, before the endpoint: plain text, as on every route).
ERRORS = {
    400: "Refused as it stands: the description says which argument and why",
    403: "No key where one is needed, an unknown or revoked key, or a community the key may not "
    "use",
    404: "An unknown service, jurisdiction or request (a request outside the jurisdiction_id "
    "named reads as unknown)",
    429: "Too many requests (OPEN311_READS_PER_MINUTE per key or per address, "
    "OPEN311_POSTS_PER_MINUTE per key, or the limits on a filer's cases); Retry-After says when",
}
BOUNDS = {408: "SlowBody", 413: "TooLarge"}
KEY: list[dict[str, list[str]]] = [{"ApiKeyQuery": []}, {"ApiKeyHeader": []}]
READ_KEY = [*KEY, {}]  # {}: by id, or a search under OPEN311_PUBLIC_READ (closed requests only)
ANY_KEY = [{}, *KEY]  # none needed; one given must be valid
POST_KEY = [*KEY, {}]  # {}: the key as api_key in the form
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Endpoint:
    """One GeoReport v2 endpoint, described once and served as ``.json`` and ``.xml``."""

    resource: str  # under BASE, without the format: "services/{code}"
    method: str
    answer: str  # the schema of its 200
    summary: str
    refusals: tuple[int, ...]  # besides 429, which every endpoint may answer
    security: list[dict[str, list[str]]]
    parameters: tuple[str, ...] = ()
    body: str | None = None  # the schema of the form it takes
    extra: Schema = field(default_factory=dict)


SEARCH = (
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "page",
    "page_size",
)
ENDPOINTS = (
    Endpoint("discovery", "get", "Discovery", "This endpoint and its formats", (403,), ANY_KEY),
    Endpoint(
        "services",
        "get",
        "Services",
        "The services: every category a resident may choose",
        (403, 404),
        ANY_KEY,
        ("jurisdiction_id",),
    ),
    Endpoint(
        "services/{code}",
        "get",
        "ServiceDefinition",
        "The attributes a request of this service may carry",
        (403, 404),
        ANY_KEY,
        ("code", "jurisdiction_id"),
    ),
    Endpoint(
        "requests",
        "get",
        "ServiceRequests",
        "Service requests, newest first: the first 1000, or one page (by service_request_id no "
        "key is needed; a search needs one, or OPEN311_PUBLIC_READ for closed ones)",
        (400, 403, 404),
        READ_KEY,
        (*SEARCH, "jurisdiction_id"),
    ),
    Endpoint(
        "requests",
        "post",
        "Created",
        "File a service request (a case)",
        (400, 403, 404, 408, 413),
        POST_KEY,
        body="Filing",
        extra={
            "description": "Checked to the letter before anything is fetched or written; "
            "a key given in the header or query is checked before the body is read."
        },
    ),
    Endpoint(
        "requests/{number}",
        "get",
        "ServiceRequests",
        "One service request, as a one-item list (without a key for its community: what is "
        "safe to publish)",
        (403, 404),
        ANY_KEY,
        ("number", "jurisdiction_id"),
    ),
    # FixMyStreet's servicerequestupdates extension (docs/reference.md §10).
    Endpoint(
        "servicerequestupdates",
        "get",
        "Updates",
        "The steps of the key's communities' requests as updates, oldest first: the first 1000, "
        "or one page",
        (400, 403, 404),
        KEY,
        ("updates_start_date", "updates_end_date", "jurisdiction_id", "page", "page_size"),
    ),
    Endpoint(
        "servicerequestupdates",
        "post",
        "UpdatePosted",
        "A city's update of a request: a note for its holder, CLOSED closes it, OPEN or REOPEN "
        "takes a resolved or closed one back; once per update_id",
        (400, 403, 404, 408, 413),
        POST_KEY,
        body="CityUpdate",
    ),
)


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _operation(endpoint: Endpoint, fmt: str) -> Schema:
    """``endpoint`` answering in ``fmt``: its documents, and its errors, in that format."""
    suffix = "Xml" if fmt == "xml" else ""
    media = MEDIA_TYPES[fmt].split(";")[0]
    name = endpoint.resource.replace("/{", "_").replace("}", "").replace("/", "_")
    answers = {
        "200": {
            "description": endpoint.summary,
            "content": {media: {"schema": _ref("schemas", endpoint.answer + suffix)}},
        }
    }
    for status in sorted({*endpoint.refusals, 429}):
        named = BOUNDS.get(status, f"Open311_{status}{suffix}")
        answers[str(status)] = _ref("responses", named)
    operation: Schema = {
        "tags": ["Open311"],
        "operationId": f"{endpoint.method}_{name}_{fmt}",
        "summary": endpoint.summary,
        "security": copy.deepcopy(endpoint.security),
        "parameters": [
            _ref("parameters", p) for p in (*endpoint.parameters, "locale", "Accept-Language")
        ],
        "responses": answers,
        **copy.deepcopy(endpoint.extra),
    }
    if endpoint.body is not None:
        form = {"schema": _ref("schemas", endpoint.body)}
        operation["requestBody"] = {"required": True, "content": dict.fromkeys(FORMS, form)}
    return operation


def _errors() -> Schema:
    """Every refusal in both formats: GeoReport v2's error list, 429 with Retry-After."""
    answers: Schema = {}
    for status, meaning in ERRORS.items():
        for fmt, media in MEDIA_TYPES.items():
            suffix = "Xml" if fmt == "xml" else ""
            schema = _ref("schemas", "Errors" + suffix)
            answer = {"description": meaning, "content": {media.split(";")[0]: {"schema": schema}}}
            if status == 429:
                answer["headers"] = {"Retry-After": _ref("headers", "RetryAfter")}
            answers[f"Open311_{status}{suffix}"] = answer
    return answers


_NUMBERS = {"integer": "-?[0-9]+", "number": r"-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?"}


def xml_view(schema: Schema, name: str) -> Schema:
    """``schema`` as its XML carries it (GeoReport v2's convention): a list is an element holding
    one element per item, named as the spec names them; every value is text (``true``/``false``,
    digits), and an empty element stands for none."""
    kinds = schema.get("type", "string")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "array" in kinds:
        items = xml_view(schema["items"], ITEMS.get(name, "item"))
        return {"type": "array", "xml": {"name": name, "wrapped": True}, "items": items}
    if "object" in kinds:
        return {
            "type": "object",
            "xml": {"name": name},
            "required": list(schema.get("required", [])),
            "properties": {k: xml_view(v, k) for k, v in schema.get("properties", {}).items()},
        }
    text: Schema = {"type": "string", "xml": {"name": name}}
    empty = "null" in kinds
    if "enum" in schema:
        text["enum"] = [str(v) for v in schema["enum"]] + ([""] if empty else [])
    elif "boolean" in kinds:
        text["enum"] = ["true", "false"]
    elif kinds[0] in _NUMBERS:
        text["pattern"] = f"^({_NUMBERS[kinds[0]]})" + ("?$" if empty else "$")
    elif kinds == ["null"]:
        text["maxLength"] = 0
    return text


def _release() -> str:
    try:
        return version("wolaiban")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0"


@cache
def _document() -> Schema:
    document: Schema = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    document["info"]["version"] = _release()
    components = document["components"]
    for name, schema in list(components["schemas"].items()):
        if "xml" in schema:  # an Open311 document: its XML view beside it
            components["schemas"][name + "Xml"] = xml_view(schema, schema["xml"]["name"])
    components["responses"] |= _errors()
    open311: Schema = {}
    for endpoint in ENDPOINTS:
        for fmt in MEDIA_TYPES:
            item = open311.setdefault(f"{BASE}/{endpoint.resource}.{fmt}", {})
            item[endpoint.method] = _operation(endpoint, fmt)
    document["paths"] = {**open311, **document["paths"]}
    return document


def document() -> Schema:
    """The description, a copy the caller may change."""
    return copy.deepcopy(_document())


def routes() -> list[BaseRoute]:
    """``GET /openapi.json``, to mount on the HTTP server."""
    body = JSONResponse(_document()).body  # the same every time: rendered once

    async def serve(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route(PATH, serve, methods=["GET"])]
