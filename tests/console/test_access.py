"""Who sees what (staff of A vs B, manager, supervisor, a manager who held a case, signed out),
every change a POST with the session's CSRF token, and the security headers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.services.cases.lifecycle import Request, act
from bot.services.unit.context import Actor
from core.cases import Action, Channel
from db.models import Case, Person
from tests.services.example import case_in

from .conftest import (
    MANAGER,
    OTHER_MANAGER,
    OTHER_STAFF,
    STAFF,
    SUPERVISOR,
    Browser,
    events_of,
    outbox_count,
)

PAGES = ("/console/cases/{n}", "/console/cases", "/console/cases.csv", "/console/rates")


async def _case(browser: Browser, number: int) -> Case:
    async with browser.ctx.db.reading() as session:
        found = await session.get(Case, number)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("person", "sees"),
    [
        (STAFF, True),
        (MANAGER, True),
        (SUPERVISOR, True),
        (OTHER_STAFF, False),
        (OTHER_MANAGER, False),
    ],
)
async def test_who_sees_a_case(browser: Browser, person: str, sees: bool) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(person)
    page = await browser.client.get(f"/console/cases/{number}")
    listed = await browser.client.get("/console/cases")
    exported = await browser.client.get("/console/cases.csv")
    if sees:
        assert page.status_code == 200
        assert "快递堆在马路上" in page.text
        assert f'data-number="{number}"' in listed.text
        assert "快递堆在马路上" in exported.text
    else:
        assert page.status_code == 404
        assert "快递堆在马路上" not in page.text  # no hint that it exists
        assert f'data-number="{number}"' not in listed.text
        assert "快递堆在马路上" not in exported.text
        missing = await browser.client.get("/console/cases/99999")
        assert (missing.status_code, missing.text) == (404, page.text)  # the same as no case


async def test_others_cannot_act_or_note_on_a_case_they_do_not_see(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(OTHER_STAFF)
    csrf = await browser.csrf()
    for path, form in (
        ("act", {"action": "close", "reason": "x", "form": "f1"}),
        ("note", {"note": "看看", "form": "f2"}),
    ):
        done = await browser.client.post(
            f"/console/cases/{number}/{path}", data={"csrf": csrf, **form}
        )
        assert done.status_code == 404
    assert (await _case(browser, number)).status == "unassigned"
    assert [k for k, _, _ in await events_of(browser.ctx, number)] == [
        "reported",
        "routed",
        "declined",
    ]


async def test_a_manager_still_sees_a_case_they_held(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")  # the manager declined it (acted on it)
    staff = Actor(STAFF, Channel.TELEGRAM)
    request = Request(Action.REASSIGN, manager_id=SUPERVISOR)
    await act(browser.ctx, number=number, actor=staff, request=request)
    await browser.sign_in(MANAGER)
    page = await browser.client.get(f"/console/cases/{number}")
    assert page.status_code == 200
    assert "您目前不能对此诉求进行操作" in page.text  # sees it, holds it no more
    await browser.sign_in(SUPERVISOR)
    assert (await browser.client.get(f"/console/cases/{number}")).status_code == 200


@pytest.mark.parametrize("path", PAGES)
async def test_signed_out_sees_nothing(browser: Browser, path: str) -> None:
    number = await case_in(browser.ctx, "assigned")
    page = await browser.client.get(path.format(n=number))
    assert page.status_code == 401
    assert "快递" not in page.text
    assert "/web" in page.text


async def test_signed_out_posts_change_nothing(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    done = await browser.client.post(
        f"/console/cases/{number}/act", data={"action": "close", "reason": "x"}
    )
    assert done.status_code == 401
    assert (await _case(browser, number)).status == "unassigned"


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
async def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(
    browser: Browser, token: str | None
) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    before = await outbox_count(browser.ctx)
    form = {"action": "close", "reason": "已电话沟通", "form": "f"}
    if token is not None:
        form["csrf"] = token
    for path in ("act", "note"):
        done = await browser.client.post(
            f"/console/cases/{number}/{path}", data={**form, "note": "n"}
        )
        assert done.status_code == 403
        assert "未做任何更改" in done.text
    for path in ("/console/logout", "/console/language"):
        assert (await browser.client.post(path, data=form)).status_code == 403
    assert (await _case(browser, number)).status == "unassigned"
    assert len(await events_of(browser.ctx, number)) == 3
    assert await outbox_count(browser.ctx) == before
    assert (await browser.client.get("/console/cases")).status_code == 200  # still signed in


async def test_the_htmx_header_carries_the_token_too(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await browser.sign_in(STAFF)
    csrf = await browser.csrf()
    done = await browser.client.post(
        f"/console/cases/{number}/note", data={"note": "已联系物业"}, headers={"X-CSRF-Token": csrf}
    )
    assert done.status_code == 303


async def test_responses_carry_the_security_headers(browser: Browser) -> None:
    await browser.sign_in(STAFF)
    for path in (
        "/console/cases",
        "/console/rates",
        "/console/static/htmx.min.js",
        "/console/login/x",
    ):
        answer = await browser.client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_pages_have_no_inline_script(
    browser: Browser, browser_for: Callable[..., Browser]
) -> None:
    number = await case_in(browser.ctx, "assigned")
    await browser.sign_in(STAFF)
    for path in (f"/console/cases/{number}", "/console/cases", "/console/rates"):
        text = (await browser.client.get(path)).text
        assert text.count("<script") == text.count('<script src="/console/static/htmx.min.js"')
        assert " on" + "click=" not in text


async def test_a_resident_session_never_exists_and_a_demoted_one_ends(browser: Browser) -> None:
    await browser.sign_in(STAFF)
    assert (await browser.client.get("/console/cases")).status_code == 200
    async with browser.ctx.db.transaction() as session:
        person = await session.get(Person, STAFF)
        assert person is not None
        person.role = "resident"  # no longer staff: the console is not theirs
        session.add(person)
    assert (await browser.client.get("/console/cases")).status_code == 401
