"""Signing in: a one-time link (10 minutes, once), a new session id at each sign-in, the cookie's
flags, 8 hours idle, sign-out; the console off without CONSOLE_SECRET."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.config import Settings, SettingsError, load_settings
from bot.console.security import COOKIE
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext, ServiceRefusal
from tests.conftest import Clock

from .conftest import CSRF, RESIDENT, SECRET, STAFF, Browser, plant


async def test_a_link_shows_a_button_and_signs_in_once(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    shown = await browser.client.get(f"/console/login/{token}")
    assert shown.status_code == 200
    assert 'id="sign-in"' in shown.text  # a GET (a link preview) does not spend the link
    assert COOKIE not in browser.client.cookies
    form = CSRF.search(shown.text)
    assert form, shown.text[:300]
    signed = await browser.client.post(f"/console/login/{token}", data={"csrf": form.group(1)})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/cases"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    page = await browser.client.get("/console/cases")
    assert page.status_code == 200
    assert "刘博" in page.text

    again = browser.client.__class__(transport=browser.client._transport, base_url="http://t")
    reused = await again.post(f"/console/login/{token}")
    assert reused.status_code == 410
    assert "已使用或已过期" in reused.text
    assert COOKIE not in again.cookies


async def test_an_expired_link_signs_nobody_in(browser: Browser, clock: Clock) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    clock.advance(minutes=10, seconds=1)
    refused = await browser.client.post(f"/console/login/{token}")
    assert refused.status_code == 410
    assert (await browser.client.get("/console/cases")).status_code == 401


async def test_an_unknown_or_overlong_token_is_refused(browser: Browser) -> None:
    assert (await browser.client.post("/console/login/not-a-token")).status_code == 410
    assert (await browser.client.post("/console/login/" + "a" * 500)).status_code == 410


async def test_sign_in_gives_a_new_session_id_and_ends_the_old_one(browser: Browser) -> None:
    await browser.sign_in(STAFF)
    first = browser.client.cookies[COOKIE]
    await browser.sign_in(STAFF)
    second = browser.client.cookies[COOKIE]
    assert second != first
    plant(browser, first)
    assert (await browser.client.get("/console/cases")).status_code == 401


async def test_a_planted_session_cookie_never_becomes_a_signed_in_one(
    browser_for: Callable[..., Browser],
) -> None:
    attacker, victim = browser_for(), browser_for()
    await attacker.sign_in(STAFF)
    planted = attacker.client.cookies[COOKIE]
    await attacker.client.post(
        "/console/logout", data={"csrf": await attacker.csrf()}
    )  # the attacker's own session ends; its cookie value is all they keep
    plant(victim, planted)
    await victim.sign_in(STAFF)
    assert victim.client.cookies[COOKIE] != planted
    plant(attacker, planted)
    assert (await attacker.client.get("/console/cases")).status_code == 401


async def test_a_forged_cookie_is_nobody(browser: Browser) -> None:
    plant(browser, "forged.value")
    assert (await browser.client.get("/console/cases")).status_code == 401


async def test_eight_idle_hours_end_a_session(
    browser_for: Callable[..., Browser], clock: Clock
) -> None:
    browser = browser_for(console_session_hours=24)  # only the idle limit ends it here
    await browser.sign_in(STAFF)
    clock.advance(hours=7, minutes=59)
    assert (await browser.client.get("/console/cases")).status_code == 200  # and touched it
    clock.advance(hours=7, minutes=59)
    assert (await browser.client.get("/console/cases")).status_code == 200
    clock.advance(hours=8)
    assert (await browser.client.get("/console/cases")).status_code == 401


async def test_sign_out_deletes_the_session(browser: Browser) -> None:
    await browser.sign_in(STAFF)
    cookie = browser.client.cookies[COOKIE]
    done = await browser.client.post("/console/logout", data={"csrf": await browser.csrf()})
    assert done.status_code == 200
    assert "您已退出工作台" in done.text
    plant(browser, cookie)
    assert (await browser.client.get("/console/cases")).status_code == 401


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    browser_for: Callable[..., Browser],
) -> None:
    secure = browser_for(public_url="https://wolaiban.example.org")
    signed = await secure.sign_in(STAFF)
    assert "Secure" in signed.headers["set-cookie"]


async def test_residents_get_no_link(loaded: ServiceContext) -> None:
    with pytest.raises(ServiceRefusal) as refused:
        await signin.issue_token(loaded, person_id=RESIDENT)
    assert refused.value.reason == "refused.console_not_staff"


async def test_without_a_secret_the_console_is_not_there(
    browser_for: Callable[..., Browser],
) -> None:
    off = browser_for(console_secret=None)
    for path in ("/console/cases", "/console/login/abc", "/console/rates", "/console/cases/1"):
        assert (await off.client.get(path)).status_code == 404


@pytest.mark.parametrize("value", ["changeme", "", "secret", "too-short"])
def test_placeholder_or_short_secrets_are_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("CONSOLE_SECRET", value)
    monkeypatch.chdir(str(tmp_path))
    with pytest.raises(SettingsError, match=r"^CONSOLE_SECRET: "):
        load_settings()
    assert Settings(_env_file=None, console_secret=SECRET).console_enabled
