"""Caps per private chat over longer windows (WeCom: 30 messages a minute and 1,000 an hour per
member): a chat that reached a cap waits until its oldest send in the window ages out, other
chats do not wait for it, and without caps (Telegram, SMS) nothing changes."""

from __future__ import annotations

from bot.delivery.pacing import Limits, Pacer

# The same rules, scaled down: 3 a "minute" of 10 s, 5 an "hour" of 100 s; no other spacing.
CAPS = ((3, 10.0), (5, 100.0))
MARGIN = 1.03  # the pacer aims a little under each limit


def _pacer(caps: tuple[tuple[int, float], ...] = CAPS) -> Pacer:
    return Pacer(Limits(per_second=1_000_000.0, chat_interval=0.0, chat_caps=caps))


def _send_when_ready(pacer: Pacer, scope: str, now: float) -> float:
    """Send to ``scope`` at the first moment the pacer allows from ``now``; that moment."""
    at = pacer.ready_at(scope, group=False, now=now)
    at = pacer.ready_at(scope, group=False, now=at)  # ready then (the window was trimmed)
    pacer.sent(scope, group=False, now=at)
    pacer.finished(scope, group=False, now=at)
    return at


def test_a_chat_at_its_minute_cap_waits_for_its_oldest_send_to_age_out() -> None:
    pacer = _pacer()
    times = [_send_when_ready(pacer, "wecom:wangjl", 0.0) for _ in range(4)]
    assert times[2] < 0.001  # three at once (a microsecond apart: the overall rate)
    assert times[3] == 10.0 * MARGIN


def test_a_chat_at_its_hour_cap_waits_the_hour_and_never_exceeds_either_cap() -> None:
    pacer = _pacer()
    times: list[float] = []
    now = 0.0
    for _ in range(11):
        now = _send_when_ready(pacer, "wecom:wangjl", now)
        times.append(now)
    for count, span in CAPS:  # no window of ``span`` seconds holds more than ``count`` sends
        for i in range(len(times) - count):
            assert times[i + count] - times[i] >= span
    # the sixth send waits for the first to leave the 100-second window, not just the minute
    assert times[5] == 100.0 * MARGIN


def test_one_chat_at_its_cap_holds_back_no_other() -> None:
    pacer = _pacer()
    for _ in range(3):
        _send_when_ready(pacer, "wecom:wangjl", 0.0)
    assert pacer.ready_at("wecom:wangjl", group=False, now=1.0) > 1.0
    assert pacer.ready_at("wecom:zhaozg", group=False, now=1.0) == 1.0


def test_without_caps_a_chat_is_only_spaced() -> None:
    pacer = Pacer(Limits(per_second=1_000_000.0, chat_interval=1.0))
    times = [_send_when_ready(pacer, "telegram:2001", 0.0) for _ in range(5)]
    assert times == [0.0, 1.0 * MARGIN, 2.0 * MARGIN, 3.0 * MARGIN, 4.0 * MARGIN]
