"""A case reporter's page in the console (a resident's data on request, docs/reference.md §9):
staff of the case's community see what is held (addresses masked), export it as JSON and erase
it after a confirmation, each audited; a POST without the session's token or without the
confirmation does nothing; staff of another community, managers and supervisors get the same 404
as for no such case; a case whose reporter was erased says so; a person the directory lists
shows why they cannot be erased."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import pytest
from sqlmodel import col, select

from bot.console.people import confirmed
from bot.console.person_view import masked
from bot.services.cases.photos import NewPhoto
from bot.sms.handler import InboundSms, handle_sms
from bot.sms.media import Fetched, Medium
from db.models import Case, CasePhoto, Person
from db.models.audit import DataAudit
from tests.e2e.channels import Both
from tests.services.example import case_in

from .conftest import CSRF, MANAGER, OTHER_STAFF, STAFF, SUPERVISOR, Browser
from .in_browser import (
    downloaded,
    errors_of,
    needs_chromium,
    refused_by_csp,
    reported_by_sms,
    sign_in_link,
    signed_in,
)

PHONE = "+8613812340001"
SMS_ID = f"sms-{PHONE}"
JZSJ_SOUTH = "+8610690000001"  # a text to it is a case of jzsj-south, liubo's community
WHAT = "路灯坏了，晚上看不见，172号楼东侧"
PHOTO = b"\x89PNG\r\n\x1a\n" + os.urandom(32)


async def _photo(_media: Sequence[Medium]) -> Fetched:
    """The MMS's picture, as the media fetcher hands it over."""
    return Fetched((NewPhoto("sms", content=PHOTO, content_type="image/png"),))


async def _stranger_reports(browser: Browser) -> int:
    """Someone the directory does not know texts a report with a photo; the case's number."""
    media = (Medium("https://m.test/1", "image/png"),)
    sms = InboundSms("SMpage1", PHONE, JZSJ_SOUTH, WHAT, media)
    await handle_sms(browser.ctx, sms, fetch=_photo)
    async with browser.ctx.db.reading() as session:
        found = (await session.exec(select(Case).where(Case.resident_id == SMS_ID))).all()
    assert [c.community_id for c in found] == ["jzsj-south"]
    number = found[0].number
    assert number is not None
    return number


async def _audit(browser: Browser) -> list[tuple[str, str | None, str]]:
    async with browser.ctx.db.reading() as session:
        rows = (await session.exec(select(DataAudit).order_by(col(DataAudit.id)))).all()
    return [(r.kind, r.actor_id, r.actor_channel) for r in rows]


async def _person(browser: Browser, person_id: str) -> Person | None:
    async with browser.ctx.db.reading() as session:
        return await session.get(Person, person_id)


async def _resident_of(browser: Browser, number: int) -> str:
    async with browser.ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    return case.resident_id


def test_addresses_are_masked_and_the_word_is_either_languages() -> None:
    assert masked("+8613800000001") == "138****0001"
    assert masked("+12025550123") == "****0123"
    assert masked("987650061") == "****061"
    assert masked("12345") == "****"
    assert [confirmed(w) for w in (" 删除 ", "erase", "ERASE")] == [True] * 3
    assert [confirmed(w) for w in ("yes", "", None)] == [False] * 3


async def test_staff_see_export_and_erase_a_reporter(browser: Browser) -> None:
    number = await _stranger_reports(browser)
    await browser.sign_in(STAFF)
    reporter = f"/console/cases/{number}/reporter"
    case = await browser.client.get(f"/console/cases/{number}")
    assert f'href="{reporter}"' in case.text

    shown = await browser.client.get(reporter)
    assert shown.status_code == 200
    assert "138****0001" in shown.text  # the address, and the id made from it, masked
    assert "sms-138****0001" in shown.text
    assert "13812340001" not in shown.text
    assert f'href="/console/cases/{number}"' in shown.text
    assert 'id="export-person"' in shown.text
    assert f'href="{reporter}/erase"' in shown.text
    assert shown.headers["content-security-policy"].startswith("default-src 'self'")
    csrf = CSRF.search(shown.text)
    assert csrf
    token = csrf.group(1)

    # the export: a download of everything held, audited as the reader's, at the console
    refused = await browser.client.post(f"{reporter}/export")
    assert refused.status_code == 403
    assert await _audit(browser) == []
    exported = await browser.client.post(f"{reporter}/export", data={"csrf": token})
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == (
        f'attachment; filename="case-{number}-reporter.json"'
    )
    data = json.loads(exported.content)
    assert data["person"]["id"] == SMS_ID
    assert [i["address"] for i in data["identities"]] == [PHONE]
    assert [c["description"] for c in data["cases"]] == [WHAT]
    assert len(data["photos"]) == 1
    assert await _audit(browser) == [("export", STAFF, "web")]

    # the erase: a page saying what happens, then a POST with the token and the word
    asked = await browser.client.get(f"{reporter}/erase")
    assert asked.status_code == 200
    assert 'id="erase-form"' in asked.text
    assert "删除" in asked.text
    for form, status in (
        ({"confirm": "删除"}, 403),  # no token
        ({"csrf": "forged", "confirm": "删除"}, 403),
        ({"csrf": token}, 400),  # no confirmation
        ({"csrf": token, "confirm": "yes"}, 400),
    ):
        done = await browser.client.post(f"{reporter}/erase", data=form)
        assert done.status_code == status, form
        assert await _person(browser, SMS_ID) is not None
    assert await _audit(browser) == [("export", STAFF, "web")]

    erased = await browser.client.post(f"{reporter}/erase", data={"csrf": token, "confirm": "删除"})
    assert erased.status_code == 303
    assert erased.headers["location"] == f"{reporter}?done=erased"
    assert await _person(browser, SMS_ID) is None
    left = await _resident_of(browser, number)
    assert left.startswith("erased-")
    assert await _audit(browser) == [("export", STAFF, "web"), ("erase", STAFF, "web")]
    async with browser.ctx.db.reading() as session:
        photos = await session.exec(select(CasePhoto).where(CasePhoto.case_number == number))
        assert photos.all() == []

    after = await browser.client.get(erased.headers["location"])
    assert after.status_code == 200
    assert "已删除此人的个人数据" in after.text
    assert 'id="export-person"' not in after.text
    assert 'id="erase-person"' not in after.text
    case = await browser.client.get(f"/console/cases/{number}")
    assert 'id="reporter-erased"' in case.text
    assert "报告人的个人数据已应要求删除" in case.text
    assert f'href="{reporter}"' not in case.text
    assert "（已删除的人）" in case.text  # their report in the timeline
    again = await browser.client.post(f"{reporter}/erase", data={"csrf": token, "confirm": "删除"})
    assert again.status_code == 409
    assert len(await _audit(browser)) == 2


@pytest.mark.parametrize("person", [OTHER_STAFF, MANAGER, SUPERVISOR])
async def test_nobody_else_sees_or_acts_on_a_reporter(browser: Browser, person: str) -> None:
    number = await _stranger_reports(browser)
    await browser.sign_in(person)
    reporter = f"/console/cases/{number}/reporter"
    nothing = await browser.client.get("/console/cases/99999/reporter")
    assert nothing.status_code == 404
    token = await browser.csrf()
    for method, path, form in (
        ("GET", reporter, None),
        ("GET", f"{reporter}/erase", None),
        ("POST", f"{reporter}/export", {"csrf": token}),
        ("POST", f"{reporter}/erase", {"csrf": token, "confirm": "删除"}),
    ):
        answer = await browser.client.request(method, path, data=form)
        assert (answer.status_code, answer.text) == (404, nothing.text), path
    assert await _person(browser, SMS_ID) is not None
    assert await _audit(browser) == []
    case = await browser.client.get(f"/console/cases/{number}")
    assert f'href="{reporter}"' not in case.text  # a manager sees the case, not its reporter


async def test_the_directory_s_people_show_why_they_are_not_erased(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")  # reported by 李大爷, a listed resident
    await browser.sign_in(STAFF)
    reporter = f"/console/cases/{number}/reporter"
    shown = await browser.client.get(reporter)
    assert shown.status_code == 200
    reason = "李大爷（r-jzsj-172）在名录文件中：请先从名录中删除并重新加载，再删除其数据。"
    assert reason in shown.text
    assert 'id="erase-person"' not in shown.text
    assert 'id="export-person"' in shown.text  # a listed resident may still ask for their data
    asked = await browser.client.get(f"{reporter}/erase")
    assert reason in asked.text
    assert 'id="erase-form"' not in asked.text
    token = await browser.csrf(reporter)
    done = await browser.client.post(f"{reporter}/erase", data={"csrf": token, "confirm": "删除"})
    assert done.status_code == 409
    assert reason in done.text
    assert await _person(browser, "r-jzsj-172") is not None
    assert await _audit(browser) == []


@needs_chromium
async def test_a_reporter_exported_and_erased_in_a_browser(run: Both, chromium: Any) -> None:
    """The same in Chromium on the real stack: the link from the case, the download, the
    confirmation typed in, the notice, the case saying so — with no script the CSP refuses."""
    number = await reported_by_sms(run, WHAT, phone=PHONE)
    options = {"accept_downloads": True, "locale": "zh-CN"}
    async with signed_in(chromium, await sign_in_link(run), **options) as page:
        problems = errors_of(page)
        await page.goto(f"{run.public_url}/console/cases/{number}")
        await page.click("#reporter")
        await page.wait_for_url(f"**/console/cases/{number}/reporter")
        assert await page.inner_text("#identities") == "sms: 138****0001"

        async with page.expect_download() as download_info:
            await page.click("#export-person button")
        download = await download_info.value
        assert download.suggested_filename == f"case-{number}-reporter.json"
        data = json.loads(downloaded(await download.path()))
        assert [c["description"] for c in data["cases"]] == [WHAT]

        await page.click("#erase-person")
        await page.wait_for_url("**/reporter/erase")
        await page.fill("#erase-form input[name=confirm]", "删除")
        await page.click("#erase-form button")
        await page.wait_for_url("**/reporter?done=erased")
        assert "已删除此人的个人数据" in await page.inner_text("#notice")
        await page.click(f"a[href='/console/cases/{number}']")
        await page.wait_for_url(f"**/console/cases/{number}")
        assert "已应要求删除" in await page.inner_text("#reporter-erased")
        assert not refused_by_csp(problems), problems
