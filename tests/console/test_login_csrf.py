"""Login CSRF: the sign-in POST needs the token of the form its own browser was shown for that
link. Without it — or with a token another browser was shown, or from another site — it is 403,
nobody is signed in, and the link is not spent."""

from __future__ import annotations

from collections.abc import Callable

from bot.console.security import COOKIE, LOGIN_COOKIE
from bot.services.staff import signin

from .conftest import STAFF, Browser
from .sign_in_form import form_token, rows


async def _refused(browser: Browser, token: str, **post: object) -> None:
    """The POST is refused with 403, signs nobody in and leaves the link unspent."""
    answer = await browser.client.post(f"/console/login/{token}", **post)  # type: ignore[arg-type]
    assert answer.status_code == 403
    assert "此登录页面已失效" in answer.text
    assert COOKIE not in browser.client.cookies
    assert await rows(browser.ctx, "console_session") == []
    assert await signin.link_open(browser.ctx, token=token)


async def test_the_sign_in_post_without_the_form_token_is_refused(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    await form_token(browser, token)  # the page was opened: its cookie is there
    await _refused(browser, token)
    await _refused(browser, token, data={"csrf": ""})
    await _refused(browser, token, data={"csrf": "0" * 64})


async def test_the_form_token_without_the_pages_cookie_is_refused(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    proof = await form_token(browser, token)
    browser.client.cookies.clear()  # a POST made elsewhere, not from the page
    await _refused(browser, token, data={"csrf": proof})


async def test_an_attackers_own_link_and_form_do_not_sign_a_victim_in(
    browser_for: Callable[..., Browser],
) -> None:
    attacker, victim = browser_for(), browser_for()
    token, _ = await signin.issue_token(attacker.ctx, person_id=STAFF)
    proof = await form_token(attacker, token)  # all an attacker can read of their own link
    await form_token(victim, "some-other-link")  # the victim has a sign-in cookie of its own
    await _refused(victim, token, data={"csrf": proof})
    # the attacker's browser, with its own cookie, still could
    assert (
        await attacker.client.post(f"/console/login/{token}", data={"csrf": proof})
    ).status_code == 303


async def test_a_form_token_is_bound_to_its_link(browser: Browser) -> None:
    first, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    second, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    proof = await form_token(browser, first)
    await form_token(browser, second)
    await _refused(browser, second, data={"csrf": proof})


async def test_a_post_from_another_site_is_refused(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    proof = await form_token(browser, token)
    await _refused(browser, token, data={"csrf": proof}, headers={"Sec-Fetch-Site": "cross-site"})


async def test_the_pressed_form_signs_in_and_drops_the_sign_in_cookie(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    shown = await browser.client.get(f"/console/login/{token}")
    cookie = shown.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    for flag in ("HttpOnly", "Path=/console/login", "Max-Age=600"):
        assert flag in cookie
    assert "samesite=strict" in cookie.lower()
    proof = await form_token(browser, token)
    signed = await browser.client.post(
        f"/console/login/{token}", data={"csrf": proof}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/cases"
    assert LOGIN_COOKIE not in browser.client.cookies
    assert (await browser.client.get("/console/cases")).status_code == 200
    assert not await signin.link_open(browser.ctx, token=token)


async def test_a_used_link_is_gone_whatever_the_form_carries(browser: Browser) -> None:
    token, _ = await signin.issue_token(browser.ctx, person_id=STAFF)
    proof = await form_token(browser, token)
    assert (
        await browser.client.post(f"/console/login/{token}", data={"csrf": proof})
    ).status_code == 303
    again = await browser.client.post(f"/console/login/{token}", data={"csrf": proof})
    assert again.status_code == 410
