"""The HTTP probes over ASGI: /healthz, /readyz going 503 and back, /metrics as Prometheus text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from bot.delivery.claims import claim_due
from bot.delivery.results import record_dead
from bot.services.cases import lifecycle
from bot.services.cases.timers import run_due
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from core.cases import Channel
from core.due import Step
from db.models import OutboxMessage
from tests.conftest import Clock
from tests.services.test_health import MANAGER, deliver_all, due_at, new_case


@pytest.fixture
async def client(loaded: ServiceContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to the web app in process."""
    transport = httpx.ASGITransport(app=create_web_app(loaded))
    async with httpx.AsyncClient(transport=transport, base_url="http://wolaiban") as http:
        yield http


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def pending(ctx: ServiceContext, channel: Channel) -> int:
    """How many outbox rows of ``channel`` are pending."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.channel == channel.value, OutboxMessage.status == "pending"
        )
        return len((await session.exec(query)).all())


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_readyz_turns_503_when_an_escalation_is_held_back_and_200_when_it_runs(
    client: httpx.AsyncClient, loaded: ServiceContext, clock: Clock
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["ready"] is True
    assert response.json()["database"] == "ok"
    number = await new_case(loaded)
    await deliver_all(loaded)
    for _ in range(2):
        clock.now = await due_at(loaded, number)
        assert await run_due(loaded) == {Step.REMIND: 1}
        await deliver_all(loaded)
    clock.now = await due_at(loaded, number) + timedelta(minutes=6)
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["ready"], body["database"], body["overdue_steps"]) == (False, "ok", 1)
    assert body["oldest_overdue_seconds"] == 360.0
    assert len(body["reasons"]) == 1
    assert f"#{number}" in body["reasons"][0]
    assert await run_due(loaded) == {Step.ESCALATE: 1}
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["reasons"] == []


async def test_readyz_names_a_stuck_outbox(
    client: httpx.AsyncClient, loaded: ServiceContext, clock: Clock
) -> None:
    await new_case(loaded)
    clock.advance(minutes=3)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["oldest_unsent_seconds"] == 180.0
    assert "outbox" in response.json()["reasons"][0]
    await deliver_all(loaded)
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics(client: httpx.AsyncClient, loaded: ServiceContext, clock: Clock) -> None:
    first = await new_case(loaded)
    second = await new_case(loaded)
    await new_case(loaded)
    await lifecycle.acknowledge(loaded, number=second, actor=MANAGER)
    await deliver_all(loaded)
    clock.now = await due_at(loaded, first)
    assert await run_due(loaded) == {Step.REMIND: 2}  # the two cases still not acknowledged
    queued = await pending(loaded, Channel.TELEGRAM)  # the reminders, not yet sent
    assert queued >= 2
    (row,) = await claim_due(loaded, channel=Channel.TELEGRAM, limit=1, lease=timedelta(1))
    await record_dead(loaded, message_id=row.id, error="chat not found", unreachable=False)
    clock.advance(seconds=45)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("wolaiban_cases", (("status", "assigned"),))] == 2
    assert found[("wolaiban_cases", (("status", "acknowledged"),))] == 1
    assert found[("wolaiban_cases", (("status", "closed"),))] == 0
    assert found[("wolaiban_reminders_total", ())] == 2
    assert found[("wolaiban_escalations_total", ())] == 0
    assert found[("wolaiban_deliveries_failed_total", (("channel", "telegram"),))] == 1
    assert found[("wolaiban_deliveries_failed_total", (("channel", "sms"),))] == 0
    assert found[("wolaiban_deliveries_suppressed_total", (("channel", "sms"),))] == 0
    assert found[("wolaiban_outbox_waiting", (("channel", "telegram"),))] == queued - 1
    assert found[("wolaiban_outbox_waiting", (("channel", "sms"),))] == 0
    assert found[("wolaiban_outbox_oldest_waiting_seconds", ())] == 45.0
