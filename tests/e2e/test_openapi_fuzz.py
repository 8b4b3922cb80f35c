"""Schemathesis fuzzes the running stack on loopback (Telegram by webhook, Twilio, Open311) from
the OpenAPI description, on SQLite and on PostgreSQL when configured: no answer may be a 5xx, and
every answer must be as described — its status, content type, headers and document, the XML ones
read by GeoReport v2's convention.

Bounded: ``MAX_EXAMPLES`` cases per operation (positive and negative), each request within
``REQUEST_SECONDS``, the whole within ``BUDGET_SECONDS``. What it finds is reported all at once,
each with the request that caused it. Nothing leaves the machine: every URL a case could make the
server fetch points at loopback."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from defusedxml import ElementTree
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from twilio.request_validator import RequestValidator

from bot import openapi
from bot.open311 import keys
from db.engine import Database
from sandbox.harness import WEBHOOK_SECRET, example_directory
from tests.e2e.channels import Both, both_channels
from tests.open311.conftest import LISTS

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

MAX_EXAMPLES = 30
REQUEST_SECONDS = 10.0
BUDGET_SECONDS = 75.0  # past it the remaining examples are not sent (the run says how many were)
KEPT_PER_OPERATION = 3  # findings kept of each operation: the first tell the story
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
DIRECTORY = example_directory(quiet_hours=None)
COMMUNITIES = [c.id for c in DIRECTORY.communities]
CATEGORIES = [c.id for c in DIRECTORY.categories]
Case = schemathesis.Case[Any]
# Where a case carries its key, and which: GeoReport v2's query (or form) argument, the header.
KEY_MODES = ("as generated", "none", "query", "form", "header", "limited", "revoked", "unknown")


@schemathesis.deserializer("text/xml")
def _spark(_ctx: schemathesis.DeserializationContext, response: schemathesis.Response) -> Any:
    """An XML answer as GeoReport v2's JSON mapping of it (a list's wrapper is an array), every
    value its text ("" when empty), to be held to the description's XML view."""
    return _mapped(ElementTree.fromstring(response.content))


def _mapped(element: Any) -> Any:
    children = list(element)
    if element.tag in LISTS:
        return [_mapped(child) for child in children]
    if children:
        return {child.tag: _mapped(child) for child in children}
    return element.text or ""


@dataclass
class Target:
    """The running stack as the fuzzer sees it: where, and the keys and secrets it may use."""

    base: str
    key: str  # for any community
    limited: str  # for one community
    revoked: str
    twilio_token: str
    document: dict[str, Any] = field(default_factory=openapi.document)
    session: requests.Session = field(default_factory=requests.Session)


@dataclass
class Run:
    """What the fuzzer did and found."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    findings: dict[str, list[str]] = field(default_factory=dict)
    operations: int = 0
    seconds: float = 0.0

    def found(self, label: str, text: str) -> None:
        kept = self.findings.setdefault(label, [])
        if len(kept) < KEPT_PER_OPERATION:
            kept.append(text)

    def figures(self) -> str:
        return (
            f"{len(self.sent)} operations, {sum(self.sent.values())} requests in "
            f"{self.seconds:.1f} s; answers {dict(sorted(self.statuses.items()))}"
        )

    def report(self) -> str:
        lines = [self.figures()]
        for label, texts in sorted(self.findings.items()):
            lines += [f"\n=== {label}", *texts]
        return "\n".join(lines)


# ---- steering the generated cases toward the stack's own data, and loopback only -------------


def _media_urls(base: str) -> list[str]:
    """What a filing's ``media_url`` may be: our own server (not an image), a closed port, and
    malformed URLs; never another host."""
    return [
        f"{base}/healthz",
        "http://127.0.0.1:1/photo.jpg",
        "http://127.0.0.1:99999/photo.jpg",
        "http://127.0.0.1:abc/photo.jpg",
        "http://[::1",
        "ftp://127.0.0.1/photo.jpg",
    ]


# The fuzzer's dictionary: values at the edges of what the description allows, which random
# generation seldom reaches, tried now and then in place of a generated one.
_WHEN = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-14:00",
        ]
    ),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda at: at.isoformat()),
)
_BIG = [2**31 - 1, 2**31, 9_999_999_999, 10**10, 2**63, -1]
EDGES: dict[str, st.SearchStrategy[Any]] = {
    "service_request_id": st.sampled_from([str(n) for n in _BIG] + ["1,2147483648"]),
    "start_date": _WHEN,
    "end_date": _WHEN,
    "number": st.sampled_from(_BIG),
    "update_id": st.sampled_from(_BIG),
}


def _edges(case: Case, draw: Callable[..., Any]) -> None:
    """Now and then an edge value for a field the case carries."""
    for fields in (case.query, case.path_parameters, case.body):
        if not isinstance(fields, dict):
            continue
        for name in EDGES.keys() & fields.keys():
            if draw(st.integers(0, 2)) == 0:
                fields[name] = draw(EDGES[name])


def _open311(case: Case, draw: Callable[..., Any], target: Target) -> None:
    """A key (or none, or a bad one) where a client puts it, and now and then the directory's
    own communities, services and request numbers, so that cases get past "unknown"."""
    form = case.body if isinstance(case.body, dict) else None
    query: dict[str, Any] = case.query if case.query is not None else {}
    headers: Any = case.headers if case.headers is not None else {}
    mode = draw(st.sampled_from(KEY_MODES))
    if mode != "as generated":
        for holder in (query, form or {}):
            holder.pop("api_key", None)
        headers.pop("X-Api-Key", None)
    raw = {"limited": target.limited, "revoked": target.revoked, "unknown": "o311_unknown"}.get(
        mode, target.key
    )
    if mode == "header":
        headers["X-Api-Key"] = raw
    elif mode == "form" and form is not None:
        form["api_key"] = raw
    elif mode not in ("as generated", "none"):
        query["api_key"] = raw
    fields = form if form is not None else query
    if draw(st.booleans()):
        fields["jurisdiction_id"] = draw(st.sampled_from(COMMUNITIES))
    if draw(st.booleans()):
        fields["service_code"] = draw(st.sampled_from(CATEGORIES))
    if case.path_parameters and "code" in case.path_parameters and draw(st.booleans()):
        case.path_parameters["code"] = draw(st.sampled_from(CATEGORIES))
    if case.path_parameters and "number" in case.path_parameters and draw(st.booleans()):
        case.path_parameters["number"] = draw(st.integers(1, 20))
    if form is not None and "media_url" in form:
        form["media_url"] = draw(st.sampled_from(_media_urls(target.base)))
    case.query, case.headers = query, headers


def _webhook(case: Case, draw: Callable[..., Any], target: Target) -> None:
    """Half the webhook cases carry the real signature or secret, to reach the handlers."""
    if not draw(st.booleans()):
        return
    headers: Any = case.headers if case.headers is not None else {}
    if case.path == "/telegram/webhook":
        headers["X-Telegram-Bot-Api-Secret-Token"] = WEBHOOK_SECRET
    elif isinstance(case.body, dict):
        params = {str(k): str(v) for k, v in case.body.items()}
        validator = RequestValidator(target.twilio_token)
        headers["X-Twilio-Signature"] = validator.compute_signature(target.base + case.path, params)
    case.headers = headers


def _steer(case: Case, draw: Callable[..., Any], target: Target) -> None:
    _edges(case, draw)
    if case.path.startswith("/open311/"):
        _open311(case, draw, target)
    elif case.path.startswith(("/twilio/", "/telegram/")):
        _webhook(case, draw, target)


# ---- the checks schemathesis has no words for --------------------------------------------------


def _resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        found: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def _content_type(response: schemathesis.Response) -> str:
    found = [
        v for k, values in response.headers.items() if k.lower() == "content-type" for v in values
    ]
    return found[0] if found else ""


def _xml_root(target: Target, case: Case, response: schemathesis.Response) -> None:
    """An XML answer is a document with its declaration, rooted where the description says."""
    if not _content_type(response).startswith("text/xml"):
        return
    operation = target.document["paths"][case.path][case.method.lower()]
    answer = _resolved(target.document, operation["responses"][str(response.status_code)])
    schema = _resolved(target.document, answer["content"]["text/xml"]["schema"])
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), "no declaration"
    root = ElementTree.fromstring(response.content).tag
    assert root == schema["xml"]["name"], f"root <{root}>, described <{schema['xml']['name']}>"


def _request(response: schemathesis.Response) -> str:
    sent = response.request
    body = sent.body.decode("utf-8", "replace") if isinstance(sent.body, bytes) else sent.body
    headers = {k: v for k, v in sent.headers.items() if k.lower().startswith(("x-", "content-t"))}
    return f"{sent.method} {sent.url}\n  headers {headers}\n  body {body!r:.1500}"


# ---- the run ------------------------------------------------------------------------------------


def _send(case: Case, data: st.DataObject, target: Target, run: Run) -> None:
    """One case, steered, sent and held to the description; what is wrong is kept in ``run``."""
    label = case.operation.label
    _steer(case, data.draw, target)
    try:
        response = case.call(base_url=target.base, session=target.session, timeout=REQUEST_SECONDS)
    except requests.RequestException as error:
        run.sent[label] += 1
        run.found(label, f"no answer: {error!r}")
        return
    run.sent[label] += 1
    run.statuses[str(response.status_code)] += 1
    try:
        case.validate_response(response, checks=CHECKS)
        _xml_root(target, case, response)
    except (FailureGroup, Failure, AssertionError) as failure:
        said = response.text_lossy()[:500]
        answer = f"{response.status_code} {_content_type(response)}: {said!r}"
        run.found(label, f"{_request(response)}\n  -> {answer}\n  {failure}"[:4000])


def fuzz(target: Target) -> Run:
    """Every described operation, ``MAX_EXAMPLES`` cases each (blocking: run it off the loop)."""
    schema = schemathesis.openapi.from_dict(target.document)
    run, started = Run(), time.monotonic()
    stop_at = started + BUDGET_SECONDS
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid one: the test fails here
        run.operations += 1
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,  # each request has its own timeout, and the run its budget
            database=None,
            phases=[Phase.generate],  # findings are kept, never raised: nothing to shrink
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, data=st.data())
        def example(case: Case, data: st.DataObject) -> None:
            if time.monotonic() < stop_at:
                _send(case, data, target, run)

        example()
    run.seconds = time.monotonic() - started
    return run


async def _target(run: Both) -> Target:
    """Keys for the fuzzer, and ``GET /openapi.json`` on the stack as ``wolaiban run`` serves it
    (added here until the app mounts it)."""
    if not any(getattr(route, "path", None) == openapi.PATH for route in run.stack.web.routes):
        run.stack.web.router.routes.extend(openapi.routes())
    key = await keys.create_key(run.ctx, name="fuzz-any", communities=[])
    limited = await keys.create_key(run.ctx, name="fuzz-one", communities=[COMMUNITIES[0]])
    revoked = await keys.create_key(run.ctx, name="fuzz-revoked", communities=[])
    await keys.revoke_key(run.ctx, name="fuzz-revoked")
    token = run.twilio.auth_token
    return Target(run.public_url, key, limited, revoked, token)


async def test_every_fuzzed_request_is_answered_as_described(db: Database) -> None:
    async with both_channels(
        db,
        webhook=True,
        media_fetch_allow="127.0.0.1",
        open311_public_read=True,  # keyless reads reach the closed-requests path too
        # Limits high enough for the fuzzer to get past them; 429 still comes from residents.
        open311_posts_per_minute=100_000,
        open311_reads_per_minute=100_000,
    ) as run:
        target = await _target(run)
        done = await asyncio.to_thread(fuzz, target)
        print(done.figures())
    assert len(done.sent) == done.operations, f"operations left out: {done.report()}"
    assert not done.findings, done.report()
