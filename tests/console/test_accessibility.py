"""The console for everyone, on a desk and on a phone, in Debian's Chromium over a world like the
demo's (a month of history in the example town, signed in as its town desk, 韩梅):

- axe-core finds no serious or critical violation on the sign-in, list, case, rates, reporter,
  erase and signed-out pages, in Chinese and in English, 1280 and 390 px wide;
- at 390 px no page scrolls sideways, and the list reads as cards;
- the keyboard reaches the content first (a skip link), every focus is visible, and every field
  has a name of its own (a label, not a placeholder).

With ``WOLAIBAN_SCREENSHOTS=DIR`` the list and a case at both widths are saved there as small PNGs
(the README's pictures: ``WOLAIBAN_SCREENSHOTS=docs/img``). The world's month ends at a fixed
moment and the console reads that clock, so the pictures are the same on every run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from PIL import Image
from sqlmodel import col, func, select

from bot.channels import BOOK
from bot.services.directory.load import load_directory
from bot.services.staff import signin
from bot.services.unit.context import ServiceContext
from core.directory_checks import validate_directory
from db.engine import open_database
from db.models import Case, CaseEvent
from sandbox.demo import TOWN_DESK, demo_directory
from sandbox.demo_history import make_history
from sandbox.harness import migrated_sqlite
from tests.console.in_browser import PHONE, console_served, needs_chromium, sign_in

pytestmark = needs_chromium

DESK = {"width": 1280, "height": 800}
WIDTHS = {"desk": DESK, "phone": PHONE}
BAD = ("serious", "critical")
LOCALE = {"zh": "zh-CN", "en": "en-US"}  # the browser's: what the sign-in page answers in
HTML_LANG = {"zh": "zh-CN", "en": "en"}  # the page's own
# The end of the world's month, and the console's "now": a Wednesday, 10:30 in Beijing. The
# README's pictures (ages, deadlines, "overdue by") come out the same on every run.
NOW = datetime(2026, 3, 18, 2, 30, tzinfo=UTC)
# Named by its own label, aria-label or aria-labelledby: a placeholder or title is not a name.
UNNAMED_FIELDS = """() => [...document.querySelectorAll(
  'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea')]
  .filter(f => f.offsetParent !== null && !(f.labels && f.labels.length)
    && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby'))
  .map(f => f.outerHTML.slice(0, 120))"""
# The element with the focus, and whether something shows it (an outline or a ring of shadow).
FOCUS = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {tag: e.tagName, id: e.id, name: e.name, cls: e.className,
    text: (e.innerText || e.value || '').slice(0, 40), top: e.getBoundingClientRect().top,
    shown: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none',
    inMain: !!e.closest('main'),
    acts: !!(e.form && /[/]cases[/][0-9]+[/]act$/.test(e.form.getAttribute('action')))}; }"""


def _now() -> datetime:
    return NOW


@dataclass(frozen=True, slots=True)
class World:
    """The demo's town after a month, in a SQLite file, and two cases worth opening."""

    database: Path
    open_case: int  # still open, past its deadline, with the longest timeline
    closed_case: int  # reopened, then closed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The demo's directory with its month of history (made once for the module: ~15 s)."""
    path = tmp_path_factory.mktemp("demo-world") / "wolaiban.db"
    with ThreadPoolExecutor(1) as thread:  # its own event loop, apart from the tests' loops
        return thread.submit(asyncio.run, _make_world(path)).result()


async def _make_world(path: Path) -> World:
    db = await migrated_sqlite(path)
    try:
        ctx = ServiceContext(db=db, default_language="zh", channels=BOOK, clock=_now)
        directory = validate_directory(demo_directory("zh"))
        assert not isinstance(directory, list), directory
        await load_directory(ctx, directory)
        await make_history(ctx, demo_directory("zh", fast=False), end=ctx.clock())
        async with ctx.db.reading() as session:
            events = func.count(col(CaseEvent.id))
            busiest = (
                select(Case.number)
                .join(CaseEvent, col(CaseEvent.case_number) == col(Case.number))
                .where(col(Case.status).in_(["assigned", "acknowledged"]))
                .group_by(col(Case.number))
                .order_by(events.desc())
            )
            reopened = (
                select(Case.number)
                .where(Case.status == "closed", col(Case.reopen_count) > 0)
                .order_by(col(Case.number).desc())
            )
            open_case = (await session.exec(busiest)).first()
            closed_case = (await session.exec(reopened)).first()
        assert open_case, "no open case in the month"
        assert closed_case, "no reopened and closed case in the month"
        return World(path, open_case, closed_case)
    finally:
        await db.dispose()


@dataclass
class Desk:
    """The console serving the world, and how to get a sign-in link for the town desk."""

    url: str
    ctx: ServiceContext

    async def link(self) -> str:
        token, _ = await signin.issue_token(self.ctx, person_id=TOWN_DESK["id"])
        return f"{self.url}/console/login/{token}"


@pytest.fixture
async def desk(world: World) -> AsyncIterator[Desk]:
    """The console (the real app) on the world's database, served on loopback."""
    db = open_database(f"sqlite+aiosqlite:///{world.database}")
    ctx = ServiceContext(db=db, default_language="zh", channels=BOOK, clock=_now)
    try:
        async with console_served(ctx, "accessibility-console-secret-0123456789") as url:
            yield Desk(url, ctx)
    finally:
        await db.dispose()


@asynccontextmanager
async def _signed_in(chromium: Any, desk: Desk, lang: str, width: str) -> AsyncIterator[Any]:
    """A page signed in as the town desk, in ``lang``, ``width`` wide; the sign-in page checked
    on the way in (it is the first page anyone sees)."""
    context = await chromium.new_context(viewport=WIDTHS[width], locale=LOCALE[lang])
    try:
        page = await context.new_page()

        async def login_checked(login: Any) -> None:
            await _check(login, "login", width)

        await sign_in(page, await desk.link(), first=login_checked)
        if lang == "en":  # the desk reads Chinese: the console's own switch turns it
            await page.click("#switch-language")
            await page.wait_for_url("**/console/cases")
        assert await page.get_attribute("html", "lang") == HTML_LANG[lang]
        yield page
    finally:
        await context.close()


async def _check(page: Any, name: str, width: str) -> None:
    """axe finds nothing serious or critical on the page, every field has a name of its own; on a
    phone, nothing scrolls sideways."""
    found = (await Axe().run(page)).response["violations"]
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:5]]}"
        for v in found
        if v["impact"] in BAD
    ]
    assert not bad, f"{name} at {width}: " + "; ".join(bad)
    assert not await page.evaluate(UNNAMED_FIELDS), name
    if width == "phone":
        wide, inner = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert wide <= inner, f"{name} scrolls sideways on a phone: {wide} > {inner}"


@pytest.mark.parametrize("width", ["desk", "phone"])
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_page_passes_axe_and_fits_a_phone(
    chromium: Any, desk: Desk, world: World, lang: str, width: str
) -> None:
    async with _signed_in(chromium, desk, lang, width) as page:
        await _check(page, "cases", width)
        assert await page.locator("table.cases tr[data-number]").count() > 10
        # overdue is said in words too, not only by the row's colour
        overdue = page.locator("table.cases tr.overdue")
        assert await overdue.count() > 0
        assert await overdue.locator(".mark.late").count() == await overdue.count()
        if width == "phone":  # the list as cards: one case a block, not a row of a table
            row = page.locator("table.cases tr[data-number]").first
            assert await row.evaluate("r => getComputedStyle(r).display") != "table-row"
        for number in (world.open_case, world.closed_case):
            await page.goto(f"{desk.url}/console/cases/{number}")
            await _check(page, f"case #{number}", width)
        await page.goto(f"{desk.url}/console/rates")
        await _check(page, "rates", width)
        await page.goto(f"{desk.url}/console/cases/{world.open_case}/reporter")
        await _check(page, "reporter", width)
        await page.goto(f"{desk.url}/console/cases/{world.open_case}/reporter/erase")
        await _check(page, "erase", width)
        await page.goto(f"{desk.url}/console/cases")
        await page.click("header button:not(#switch-language)")  # sign out
        await page.wait_for_load_state()
        await _check(page, "signed out", width)


async def test_the_demo_desk_sees_several_communities_and_what_is_overdue(
    chromium: Any, desk: Desk, world: World
) -> None:
    """What ``./scripts/demo --console`` signs in to: 韩梅 sees every community's cases, not one
    closed case, and the overdue ones say so on the list and gather under "overdue"."""
    async with _signed_in(chromium, desk, "zh", "desk") as page:
        assert "韩梅" in await page.inner_text("header")
        offered = await page.locator("select[name=community] option").evaluate_all(
            "options => options.map(o => o.value).filter(Boolean)"
        )
        assert len(offered) == 6, offered  # every community of the town
        late = page.locator("table.cases tr.overdue .mark.late")
        assert await late.count() > 0
        assert all(m.startswith("已超时") for m in await late.all_inner_texts())
        with_cases = []
        for community in offered:
            await page.goto(f"{desk.url}/console/cases?community={community}&status=all")
            if await page.locator("table.cases tr[data-number]").count():
                with_cases.append(community)
        assert len(with_cases) >= 3, with_cases  # the month's history, in several communities
        await page.goto(f"{desk.url}/console/cases")
        await page.check("input[name=overdue]")
        await page.click("#apply-filters")
        await page.wait_for_url("**overdue=1**")
        rows = page.locator("table.cases tr[data-number]")
        assert await rows.count() > 0
        assert await rows.count() == await page.locator("tr.overdue .mark.late").count()


async def _tab(page: Any) -> dict[str, Any]:
    await page.keyboard.press("Tab")
    focus: dict[str, Any] = await page.evaluate(FOCUS)
    return focus


@pytest.mark.parametrize("width", ["desk", "phone"])
async def test_the_keyboard_skips_to_the_content_and_always_shows_where_it_is(
    chromium: Any, desk: Desk, world: World, width: str
) -> None:
    async with _signed_in(chromium, desk, "zh", width) as page:
        for path in ("/console/cases", f"/console/cases/{world.open_case}"):
            await page.goto(desk.url + path)
            first = await _tab(page)
            assert (first["cls"], first["text"]) == ("skip", "跳到正文"), first
            assert first["shown"], first
            assert first["top"] >= 0, first  # on the screen once it has the focus
            await page.keyboard.press("Enter")
            visited = [await _tab(page) for _ in range(40)]
            assert visited[0]["inMain"], visited[0]  # past the header, into the page
            # (BODY: the focus went past the page's end, to the browser's own controls)
            hidden = [f for f in visited if not f["shown"] and f["tag"] != "BODY"]
            assert not hidden, [str(f) for f in hidden]
        # on the case page the actions are reached by Tab alone
        assert any(f["acts"] for f in visited), [(f["tag"], f["id"], f["text"]) for f in visited]


async def test_screenshots_of_the_town_on_a_desk_and_a_phone(
    chromium: Any, desk: Desk, world: World, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    for width in WIDTHS:
        async with _signed_in(chromium, desk, "zh", width) as page:
            await page.wait_for_selector("table.cases")
            if width == "phone":  # past the filters: the cards are the picture
                await page.locator("#case-list").evaluate("list => list.scrollIntoView()")
            await _shoot(page, folder / f"console-cases-{width}.png")
            await page.goto(f"{desk.url}/console/cases/{world.open_case}")
            await _shoot(page, folder / f"console-case-{width}.png")


def _folder(tmp_path: Path) -> Path:
    """Where screenshots go: WOLAIBAN_SCREENSHOTS when set, else the test's own folder."""
    folder = Path(os.environ.get("WOLAIBAN_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _shoot(page: Any, path: Path) -> None:
    """The screen as it is seen (not the whole page), as a small PNG."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.screenshot(path=str(path))
    size = await asyncio.to_thread(_smaller, path)
    assert size < 150_000, (path.name, size)


def _smaller(path: Path) -> int:
    """Rewrite the PNG with a palette of 64 colours (text and flat colours survive it); its size."""
    with Image.open(path) as shot:
        assert shot.format == "PNG"
        small = shot.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path.stat().st_size
