"""How the Open311 updates sender waits for a city's endpoint that is down: its request's updates
keep their place and wait 1 s, 2 s, 4 s … at most 5 minutes between tries — through an hour of
downtime nothing is given up — and only after a day of failures is the update dead; a success
starts the count again. And the signature a city checks."""

from __future__ import annotations

from bot.delivery.outcomes import Flooded, Permanent
from bot.media.fetch import FetchPolicy
from bot.open311.updates.push import UpdatePusher
from bot.open311.updates.signing import signature, valid
from bot.services.unit.context import ServiceContext


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pusher(ctx: ServiceContext, clock: Clock) -> UpdatePusher:
    return UpdatePusher(ctx, shape=lambda *_: None, policy=FetchPolicy(), clock=clock)


def test_an_endpoint_down_for_an_hour_holds_its_updates_and_a_day_gives_them_up(
    ctx: ServiceContext,
) -> None:
    clock = Clock()
    pusher = _pusher(ctx, clock)
    waits: list[float] = []
    while clock.now - 1000.0 < 3600:  # an hour of 503s, tried as soon as each pause ends
        outcome = pusher.failed("open311:1:7", "HTTP 503")
        assert isinstance(outcome, Flooded)
        waits.append(outcome.seconds)
        clock.now += outcome.seconds
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert max(waits) == 300.0  # at least every 5 minutes
    # Another request's endpoint state is its own.
    other = pusher.failed("open311:1:8", "HTTP 503")
    assert isinstance(other, Flooded)
    assert other.seconds == 1.0
    clock.now = 1000.0 + 24 * 3600 + 1
    dead = pusher.failed("open311:1:7", "HTTP 503")
    assert isinstance(dead, Permanent)
    assert "a day" in dead.error


def test_the_signature_checks_only_the_body_and_secret_it_was_made_with() -> None:
    body = b"update_id=12&status=FIXED"
    header = signature("s3cret", body, 1_765_000_000)
    assert header.startswith("t=1765000000,v1=")
    assert valid("s3cret", body, header, 1_765_000_100)
    assert not valid("s3cret", body + b"&x=1", header, 1_765_000_100)  # a changed body
    assert not valid("other", body, header, 1_765_000_100)  # another key's secret
    assert not valid("s3cret", body, header, 1_765_000_000 + 301)  # too old: a replay
    assert not valid("s3cret", body, "v1=abc", 1_765_000_000)  # no time
