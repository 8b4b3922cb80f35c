"""Sessions that end: an absolute lifetime (CONSOLE_SESSION_HOURS) however active the user is,
and the list's own refresh (htmx polling, marked as background) keeps no session alive — a tab
left open and polling is signed out 8 hours after the user's last own request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.console.security import COOKIE
from tests.conftest import Clock

from .conftest import STAFF, Browser
from .sign_in_form import BACKGROUND, rows, signed_in


def _seen_at(found: list[tuple[object, ...]]) -> object:
    """The one session row's ``seen_at`` (id_hash, person, csrf, language, created, seen, end)."""
    (row,) = found
    return row[5]


def _as_time(value: object) -> datetime:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp.replace(tzinfo=None)


async def test_a_session_ends_at_its_absolute_lifetime_however_active(
    browser: Browser, clock: Clock
) -> None:
    signed = await signed_in(browser, STAFF)
    assert signed.status_code == 303
    for _ in range(11):  # the user's own request every hour: never idle
        clock.advance(hours=1)
        assert (await browser.client.get("/console/cases")).status_code == 200
    clock.advance(minutes=59)
    assert (await browser.client.get("/console/rates")).status_code == 200
    clock.advance(minutes=1)  # 12 hours after sign-in, the default CONSOLE_SESSION_HOURS
    ended = await browser.client.get("/console/cases")
    assert ended.status_code == 401
    assert "请先登录" in ended.text
    assert await rows(browser.ctx, "console_session") == []  # deleted, not only refused


async def test_console_session_hours_sets_the_lifetime(
    browser_for: Callable[..., Browser], clock: Clock
) -> None:
    short = browser_for(console_session_hours=2)
    await signed_in(short, STAFF)
    clock.advance(hours=1, minutes=59)
    assert (await short.client.get("/console/cases")).status_code == 200
    clock.advance(minutes=1)
    assert (await short.client.get("/console/cases")).status_code == 401


async def test_a_tab_polling_for_84_hours_is_signed_out_after_8_idle_hours(
    browser_for: Callable[..., Browser], clock: Clock
) -> None:
    # A week-long lifetime: only the idle limit can end this session.
    tab = browser_for(console_session_hours=24 * 7)
    await signed_in(tab, STAFF)
    signed_at = _as_time(_seen_at(await rows(tab.ctx, "console_session")))
    answers: list[tuple[int, int]] = []
    for minutes in range(30, 84 * 60 + 1, 30):  # the list refreshing itself, for 84 hours
        clock.advance(minutes=30)
        polled = await tab.client.get("/console/cases", headers=BACKGROUND)
        answers.append((minutes, polled.status_code))
        if polled.status_code == 200:
            # answered, and the session's last activity is still the sign-in
            seen = _seen_at(await rows(tab.ctx, "console_session"))
            assert _as_time(seen) == signed_at
    assert {m for m, status in answers if status == 200} == set(range(30, 8 * 60, 30))
    assert all(status == 401 for m, status in answers if m >= 8 * 60)
    assert COOKIE in tab.client.cookies  # the cookie is still there; its session is not
    assert await rows(tab.ctx, "console_session") == []


async def test_a_refresh_after_the_end_tells_the_page_to_reload(
    browser: Browser, clock: Clock
) -> None:
    await signed_in(browser, STAFF)
    clock.advance(hours=8)
    polled = await browser.client.get("/console/cases", headers=BACKGROUND)
    assert polled.status_code == 401
    # htmx swaps nothing on a 401: without this the list would sit there, silently stale
    assert polled.headers["hx-refresh"] == "true"


async def test_the_users_own_request_keeps_a_polling_session_alive(
    browser_for: Callable[..., Browser], clock: Clock
) -> None:
    tab = browser_for(console_session_hours=24)
    await signed_in(tab, STAFF)
    clock.advance(hours=7)
    assert (await tab.client.get("/console/cases")).status_code == 200  # the user's own
    for _ in range(7):
        clock.advance(hours=1)  # 8 … 14 hours after sign-in, 1 … 7 after the user's request
        polled = await tab.client.get("/console/cases", headers=BACKGROUND)
        assert polled.status_code == 200
    clock.advance(hours=1)  # 8 hours after the user's own request
    assert (await tab.client.get("/console/cases", headers=BACKGROUND)).status_code == 401


async def test_the_list_marks_its_refresh_as_background(browser: Browser) -> None:
    await signed_in(browser, STAFF)
    for answer in (
        await browser.client.get("/console/cases"),
        await browser.client.get("/console/cases", headers=BACKGROUND),
    ):
        assert answer.status_code == 200
        section = answer.text[answer.text.index('<section id="case-list"') :]
        opening = section[: section.index(">") + 1]
        assert 'hx-trigger="every 5s"' in opening
        assert """hx-headers='{"X-Wolaiban-Background": "1"}'""" in opening
