"""The HTTP server: health, readiness and metrics; the Telegram and Twilio webhooks plug in here.
Every request is bounded (``bot/bounds.py``); ``/metrics`` answers only who may see it."""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.bounds import Bounded, Bounds
from bot.config import Settings
from bot.services.health import Snapshot, metrics_snapshot, readiness
from bot.services.unit.context import ServiceContext
from db.replica import Replica

# Headers a reverse proxy adds: such a request came from elsewhere, whatever its socket says.
FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


class _Families:
    """A collector handing out metric families built beforehand (one scrape's worth)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        """The families, as built."""
        return self._families


def metric_families(snapshot: Snapshot) -> list[Metric]:
    """The ``wolaiban_*`` metrics for one snapshot."""
    cases = GaugeMetricFamily("wolaiban_cases", "Cases by status.", labels=["status"])
    for status, count in sorted(snapshot.cases.items()):
        cases.add_metric([status], count)
    waiting = GaugeMetricFamily(
        "wolaiban_outbox_waiting", "Outbox messages not yet sent, by channel.", labels=["channel"]
    )
    for channel, count in sorted(snapshot.outbox_waiting.items()):
        waiting.add_metric([channel], count)
    oldest = GaugeMetricFamily(
        "wolaiban_outbox_oldest_waiting_seconds",
        "Age of the oldest outbox message not yet sent (0 when none waits).",
        value=snapshot.oldest_waiting_seconds or 0.0,
    )
    reminders = CounterMetricFamily(
        "wolaiban_reminders", "Reminders sent by the clock.", value=snapshot.reminders
    )
    escalations = CounterMetricFamily(
        "wolaiban_escalations", "Escalations made.", value=snapshot.escalations
    )
    failed = _counted(
        "wolaiban_deliveries_failed",
        "Outbox messages given up on, by channel.",
        "channel",
        snapshot.dead,
    )
    suppressed = _counted(
        "wolaiban_deliveries_suppressed",
        "Outbox messages not sent because the number opted out, by channel.",
        "channel",
        snapshot.suppressed,
    )
    return [cases, waiting, oldest, reminders, escalations, failed, suppressed]


def _counted(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Metric:
    """A counter family with one sample per ``label`` value, in order."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def read_families(replica: Replica | None) -> list[Metric]:
    """With a replica (DATABASE_READ_URL), how many reads that may lag each database served:
    the primary serves those of people whose last action the replica has not yet replayed, and
    all of them while it does not answer."""
    if replica is None:
        return []
    return [
        _counted(
            "wolaiban_lagging_reads",
            "Reads that may come from the replica, by the database that served them.",
            "database",
            replica.served,
        )
    ]


def loopback(request: Request) -> bool:
    """Whether the client is on this host and no proxy forwarded the request (a proxy on this
    host would make every client look local)."""
    if request.client is None or any(h in request.headers for h in FORWARDING):
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 (not loopback to Python before 3.13)
    return address.is_loopback


def bearer_matches(request: Request, token: str) -> bool:
    """Whether ``Authorization: Bearer <token>`` carries ``token`` (compared in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def metrics_refusal(request: Request, token: str | None) -> Response | None:
    """Why ``request`` may not read the metrics (401 without the token when one is set, else 403
    off the loopback), or None when it may."""
    if token is not None:
        if bearer_matches(request, token):
            return None
        return PlainTextResponse(
            "metrics need a bearer token", status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if loopback(request):
        return None
    return PlainTextResponse("metrics are served to this host only", status_code=403)


def create_web_app(
    ctx: ServiceContext, routes: Sequence[BaseRoute] = (), *, settings: Settings | None = None
) -> Starlette:
    """The Starlette app: ``/healthz``, ``/readyz``, ``/metrics`` and the channels' ``routes``,
    bodies bounded as ``settings`` say (their defaults without them)."""
    bounds = Bounds.of(settings) if settings is not None else Bounds.defaults()
    secret = settings.metrics_token if settings is not None else None
    token = secret.get_secret_value() if secret is not None else None

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        state = await readiness(ctx)
        return JSONResponse(dataclasses.asdict(state), status_code=200 if state.ready else 503)

    async def metrics(request: Request) -> Response:
        refusal = metrics_refusal(request, token)
        if refusal is not None:
            return refusal
        try:
            snapshot = await metrics_snapshot(ctx)
        except Exception:  # the database is down: say so rather than show wrong numbers
            return PlainTextResponse("metrics unavailable: database error", status_code=503)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(metric_families(snapshot) + read_families(ctx.db.replica)))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *routes,
        ],
        middleware=[Middleware(Bounded, bounds=bounds)],
    )
