"""The district office's console (issue 26): over a district of 308 communities the list's
community, holder and bulk-manager filters are type-aheads — no hundreds of ``<option>``s — whose
suggestions come from ``/console/choices/<kind>``, and a community typed by name filters the list;
a name that names nothing says so and narrows nothing. Staff of two communities keep the lists."""

from __future__ import annotations

import re

import pytest

from bot.services.unit.context import ServiceContext
from tests.services.district import DISTRICT, PAIR, load_district, reported

from .conftest import Browser

OPTION = re.compile(r"<option\b")
ROW = re.compile(r'data-number="(\d+)"')


@pytest.fixture
async def loaded(ctx: ServiceContext) -> ServiceContext:
    """The district's directory instead of the example's (the browsers of conftest use it)."""
    await load_district(ctx)
    return ctx


def _rows(page: str) -> set[int]:
    return {int(n) for n in ROW.findall(page)}


async def test_the_district_office_types_instead_of_scrolling(browser: Browser) -> None:
    ctx = browser.ctx
    c012 = await reported(ctx, "c012", "快递堆在c012")
    c200 = await reported(ctx, "c200", "快递堆在c200")
    await browser.sign_in(DISTRICT)
    home = await browser.client.get("/console/cases")
    assert home.status_code == 200
    page = home.text
    assert _rows(page) == {c012, c200}
    # The status, category and sort lists stay; no community, holder or manager is an option.
    assert len(OPTION.findall(page)) < 30
    assert "第150社区" not in page
    assert "经理150" not in page
    kinds = {"community": "communities", "holder": "holders", "manager": "managers"}
    for name, kind in kinds.items():
        assert f'<select name="{name}"' not in page
        assert f'id="{name}-typed" name="{name}"' in page
        assert f'list="{name}-options"' in page
        assert f'hx-get="/console/choices/{kind}"' in page
        assert f'<datalist id="{name}-options"></datalist>' in page
    assert '<label for="community-typed">社区</label>' in page
    # What the field sends as htmx sends it: the suggestions, at most 20, named in Chinese.
    answer = await browser.client.get("/console/choices/communities?community=第1")
    assert answer.status_code == 200
    suggested = re.findall(r'<option value="([^"]+)">([^<]+)</option>', answer.text)
    assert len(suggested) == 20
    assert suggested[0] == ("c001", "第1社区")
    holders = await browser.client.get("/console/choices/holders?q=经理20")
    assert re.findall(r'<option value="([^"]+)"', holders.text)[0] == "mgr-c020"
    assert (await browser.client.get("/console/choices/people?q=x")).status_code == 404
    # A community typed by its name filters the list by its id; the field shows the id and
    # says the name; the refresh asks by the id.
    typed = await browser.client.get("/console/cases?community=第12社区&status=all")
    assert _rows(typed.text) == {c012}
    assert 'id="community-typed" name="community" value="c012"' in typed.text
    assert '<small class="hint" id="community-said">第12社区</small>' in typed.text
    assert 'hx-get="/console/cases?status=all&amp;community=c012"' in typed.text
    by_holder = await browser.client.get("/console/cases?holder=经理200&status=all")
    assert _rows(by_holder.text) == {c200}


async def test_a_typed_name_that_names_nothing_narrows_nothing(browser: Browser) -> None:
    ctx = browser.ctx
    cases = {await reported(ctx, c, f"快递堆在{c}") for c in ("c003", "c004")}
    await browser.sign_in(DISTRICT)
    typed = "<b>第999社区</b>"
    answer = await browser.client.get("/console/cases", params={"community": typed})
    assert answer.status_code == 200
    page = answer.text
    assert _rows(page) == cases
    assert typed not in page  # shown as text
    said = "没有名为“&lt;b&gt;第999社区&lt;/b&gt;”的社区，列表未按社区筛选。"
    assert f'<small class="refusal" id="community-said" role="alert">{said}</small>' in page
    assert 'value="&lt;b&gt;第999社区&lt;/b&gt;"' in page
    assert 'aria-invalid="true"' in page
    twins = await browser.client.get("/console/cases", params={"community": "双子社区"})
    assert "名为“双子社区”的社区不止一个" in twins.text
    assert _rows(twins.text) == cases
    # In English, the suggestions by their English names.
    await browser.client.post(
        "/console/language", data={"csrf": await browser.csrf(), "language": "en"}
    )
    english = await browser.client.get("/console/choices/communities?q=community 12")
    assert '<option value="c012">Community 12</option>' in english.text
    unknown = await browser.client.get("/console/cases?holder=nobody")
    assert "No holder you may filter by is called “nobody”" in unknown.text


async def test_staff_of_two_communities_keep_the_lists(browser: Browser) -> None:
    ctx = browser.ctx
    mine = await reported(ctx, "c001", "快递堆在c001")
    await reported(ctx, "c150", "快递堆在c150")
    await browser.sign_in(PAIR)
    page = (await browser.client.get("/console/cases")).text
    assert _rows(page) == {mine}
    assert 'list="community-options"' not in page
    start = page.index('<select name="community">')
    offered = re.findall(r'<option value="([^"]*)"', page[start : page.index("</select>", start)])
    assert sorted(offered) == ["", "c001", "c002"]
    assert '<select name="holder">' in page
    assert '<select name="manager"' in page
    # Their type-ahead, asked directly, offers their two communities only.
    answer = await browser.client.get("/console/choices/communities?q=社区")
    assert re.findall(r'<option value="([^"]+)"', answer.text) == ["c001", "c002"]
    signed_out = browser.client
    signed_out.cookies.clear()
    assert (await signed_out.get("/console/choices/communities?q=1")).status_code == 401
