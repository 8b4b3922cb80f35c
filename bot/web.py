"""The HTTP server: health, readiness and metrics; the Telegram and Twilio webhooks plug in here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.services.health import Snapshot, metrics_snapshot, readiness
from bot.services.unit.context import ServiceContext


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
    failed = CounterMetricFamily(
        "wolaiban_deliveries_failed",
        "Outbox messages given up on, by channel.",
        labels=["channel"],
    )
    for channel, count in sorted(snapshot.dead.items()):
        failed.add_metric([channel], count)
    suppressed = CounterMetricFamily(
        "wolaiban_deliveries_suppressed",
        "Outbox messages not sent because the number opted out, by channel.",
        labels=["channel"],
    )
    for channel, count in sorted(snapshot.suppressed.items()):
        suppressed.add_metric([channel], count)
    return [cases, waiting, oldest, reminders, escalations, failed, suppressed]


def create_web_app(ctx: ServiceContext, routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The Starlette app: ``/healthz``, ``/readyz``, ``/metrics`` and the channels' ``routes``."""

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        state = await readiness(ctx)
        return JSONResponse(dataclasses.asdict(state), status_code=200 if state.ready else 503)

    async def metrics(_request: Request) -> Response:
        try:
            snapshot = await metrics_snapshot(ctx)
        except Exception:  # the database is down: say so rather than show wrong numbers
            return PlainTextResponse("metrics unavailable: database error", status_code=503)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(metric_families(snapshot)))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *routes,
        ]
    )
