"""GET servicerequestupdates (FixMyStreet's extension): a request filed by a key and taken
through its whole life is heard as OPEN, IN_PROGRESS, FIXED, CLOSED — once each, in order, ids as
strings, the steps in words, valid against the schema — in JSON and XML; the window and the
jurisdiction choose; a key of another community hears none of it; no key, no updates."""

from __future__ import annotations

from typing import Any

from bot.open311 import keys
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of, text
from tests.open311.test_schemas import valid
from tests.open311.updating import step, updates


def _row(update: dict[str, Any]) -> dict[str, str | None]:
    """An update as both formats carry it (the XML has no empty strings)."""
    return {name: text(value) for name, value in update.items()}


async def _life(client: Client, clock: Clock) -> tuple[int, list[str]]:
    """A request filed, acknowledged, resolved and rated satisfied, an hour apart: its number
    and the times between the steps (ISO 8601, UTC)."""
    number = await client.file()
    between = []
    for name in ("acknowledge", "resolve", "rate"):
        between.append(clock.advance(minutes=30).isoformat())
        clock.advance(minutes=30)
        await step(client.ctx, number, name)
    return number, between


async def test_a_whole_life_is_four_updates_in_order(client: Client, clock: Clock) -> None:
    number, _ = await _life(client, clock)
    status, body = await updates(client)
    assert status == 200, body
    if client.fmt == "json":
        valid("updates.json", body)
    rows = [_row(u) for u in body]
    assert [(r["service_request_id"], r["status"]) for r in rows] == [
        (str(number), "OPEN"),
        (str(number), "IN_PROGRESS"),
        (str(number), "FIXED"),
        (str(number), "CLOSED"),
    ]
    assert [r["external_status_code"] for r in rows] == [
        "reported",
        "acknowledged",
        "resolved",
        "rated",
    ]
    # The steps in the reader's words (Chinese by default), no note, no name; local time.
    assert [r["description"] for r in rows] == ["反映", "接单", "办好", "评价；评价：满意"]
    ids = [int(r["update_id"] or 0) for r in rows]
    assert ids == sorted(set(ids))
    assert all((r["updated_datetime"] or "").endswith("+08:00") for r in rows)
    times = [r["updated_datetime"] or "" for r in rows]
    assert times == sorted(times)
    assert all(r["media_url"] is None for r in rows)  # no photo of the fix was sent
    english = await client.http.get(
        client.url("servicerequestupdates"),
        params={"locale": "en"},
        headers={"x-api-key": client.key},
    )
    words = [u["description"] for u in client.read(english)]
    assert words == ["reported", "acknowledged", "resolved", "rated; rating: satisfied"]


async def test_the_window_and_the_jurisdiction_choose(client: Client, clock: Clock) -> None:
    number, between = await _life(client, clock)
    # From between acknowledge and resolve: FIXED and CLOSED only.
    _, later = await updates(client, start_date=between[1])
    assert [_row(u)["status"] for u in later] == ["FIXED", "CLOSED"]
    _, earlier = await updates(client, start_date=between[0], end_date=between[2])
    assert [_row(u)["status"] for u in earlier] == ["IN_PROGRESS", "FIXED"]
    _, here = await updates(client, jurisdiction_id="jzsj-south")
    assert len(here) == 4
    _, elsewhere = await updates(client, jurisdiction_id="bgy-north")
    assert elsewhere in ([], None)
    # A page of two, then the rest.
    _, first = await updates(client, page="1", page_size="2")
    _, second = await updates(client, page="2", page_size="2")
    assert [_row(u)["status"] for u in first + second] == ["OPEN", "IN_PROGRESS", "FIXED", "CLOSED"]
    # More than the 90 days GET requests allows: the same 400.
    status, body = await updates(client, start_date="2026-01-01", end_date="2026-12-01")
    assert status == 400
    assert error_of(body)[0] == "400"
    assert number


async def test_a_key_of_another_community_hears_none(client: Client, clock: Clock) -> None:
    await _life(client, clock)
    other = await keys.create_key(client.ctx, name="bgy-city", communities=["bgy-north"])
    status, body = await updates(client, key=other)
    assert status == 200
    assert body in ([], None)
    status, body = await updates(client, key=other, jurisdiction_id="jzsj-south")
    assert status == 403
    assert error_of(body)[0] == "403"
    # No key: nothing at all, as the spec answers a missing key.
    status, body = await updates(client, key="")
    assert status == 403
    assert error_of(body)[0] == "403"
