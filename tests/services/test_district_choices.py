"""The district office's console in the services (issue 26): a reader of every community sees
every case with no community filter in any query; a reader of some keeps the filter; past 200
options the filters are type-aheads whose matches and typed values never reach past what the
reader may filter by."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot.services.staff import choosing, listing
from bot.services.unit.context import ServiceContext
from db.models import Person
from tests.services.district import DISTRICT, PAIR, TWINS, load_district, reported


@pytest.fixture
async def district(ctx: ServiceContext) -> ServiceContext:
    """The context with the district's directory (306 + 2 communities) loaded."""
    await load_district(ctx)
    return ctx


async def viewer(ctx: ServiceContext, person_id: str) -> listing.Viewer:
    """``person_id`` as the console reads them."""
    async with ctx.db.reading() as session:
        person = (await session.exec(select(Person).where(Person.id == person_id))).one()
        return await listing.viewer_of(session, person)


@contextmanager
def statements(ctx: ServiceContext) -> Iterator[list[str]]:
    """The SQL the database is sent inside the block."""
    sent: list[str] = []

    def seen(_c: object, _k: object, statement: str, *_: object) -> None:
        sent.append(statement)

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def _community_in(sent: list[str]) -> list[str]:
    return [s for s in sent if "community_id IN" in " ".join(s.split())]


async def test_a_reader_of_every_community_is_asked_no_community_in(
    district: ServiceContext,
) -> None:
    ctx = district
    numbers = {await reported(ctx, c, f"快递堆在{c}") for c in ("c000", "c150", "jzsj-south")}
    everyone = await viewer(ctx, DISTRICT)
    assert everyone.everywhere
    assert len(everyone.communities) == 308
    with statements(ctx) as sent:
        page = await listing.case_page(ctx, everyone, listing.Filters(status="all"))
    assert {c["number"] for c in page.cases} == numbers
    assert page.total == 3
    assert sent
    assert not _community_in(sent)
    # Staff of two keep the filter, and see only their communities' cases.
    pair = await viewer(ctx, PAIR)
    assert not pair.everywhere
    mine = await reported(ctx, "c001", "快递堆在c001")
    with statements(ctx) as sent:
        page = await listing.case_page(ctx, pair, listing.Filters(status="all"))
    assert [c["number"] for c in page.cases] == [mine]
    assert _community_in(sent)


async def test_staff_of_all_but_one_community_keep_the_filter(ctx: ServiceContext) -> None:
    await load_district(ctx, extra=3)
    elsewhere = await reported(ctx, "c002", "快递堆在c002")
    seen = await reported(ctx, "c000", "快递堆在c000")
    most = await viewer(ctx, DISTRICT)
    assert most.everywhere
    # The same reader, as if c002 were not theirs: no longer every community.
    fewer = listing.Viewer(
        most.person_id, most.name, "staff", tuple(c for c in most.communities if c != "c002")
    )
    page = await listing.case_page(ctx, fewer, listing.Filters(status="all"))
    assert [c["number"] for c in page.cases] == [seen]
    assert elsewhere not in {c["number"] for c in page.cases}


async def test_past_two_hundred_options_the_filters_are_typed(district: ServiceContext) -> None:
    ctx = district
    everyone = await viewer(ctx, DISTRICT)
    offered = await choosing.offered(ctx, everyone, listing.Filters())
    assert offered.communities is None
    assert offered.holders is None
    assert offered.managers is None
    assert [c[0] for c in offered.categories]  # categories stay a list
    pair = await viewer(ctx, PAIR)
    few = await choosing.offered(ctx, pair, listing.Filters())
    assert few.communities is not None
    assert sorted(c[0] for c in few.communities) == ["c001", "c002"]
    assert few.holders is not None
    assert {h[0] for h in few.holders} == {PAIR, DISTRICT, "staff-c001", "staff-c002"} | {
        f"{role}-{c}" for role in ("mgr", "sup") for c in ("c001", "c002")
    }
    assert few.managers is not None
    assert {m[0] for m in few.managers} == {
        "mgr-c001",
        "mgr-c002",
        "sup-c001",
        "sup-c002",
    }


async def test_the_type_ahead_offers_only_what_the_reader_may_filter_by(
    district: ServiceContext,
) -> None:
    ctx = district
    everyone, pair = await viewer(ctx, DISTRICT), await viewer(ctx, PAIR)
    found = await choosing.matches(ctx, everyone, "communities", "第1")
    assert len(found) == choosing.MATCHES
    assert found[0] == ("c001", "第1社区", "Community 1")
    assert all("第1" in zh for _, zh, _ in found)
    english = await choosing.matches(ctx, everyone, "communities", "community 25")
    assert english[0][0] == "c025"  # the whole name first, then those beginning with it
    assert {c[0] for c in english} == {"c025", *(f"c{n}" for n in range(250, 260))}
    assert (await choosing.matches(ctx, everyone, "communities", "15社区"))[0][0] == "c015"
    # Staff of c001 and c002 are offered those two only, whatever they type.
    assert [c[0] for c in await choosing.matches(ctx, pair, "communities", "社区")] == [
        "c001",
        "c002",
    ]
    assert await choosing.matches(ctx, pair, "communities", "第150") == []
    assert {h[0] for h in await choosing.matches(ctx, pair, "holders", "经理")} == {
        "mgr-c001",
        "mgr-c002",
    }
    assert await choosing.matches(ctx, pair, "holders", "经理150") == []
    holders = await choosing.matches(ctx, everyone, "holders", "经理15")
    assert holders[0][0] == "mgr-c015"
    assert len(holders) == 11
    managers = await choosing.matches(ctx, everyone, "managers", "c015")
    assert {m[0] for m in managers} == {"mgr-c015", "sup-c015"}  # no staff: not a manager
    assert ("mgr-c015", "经理15 · 第15社区", "经理15 · Community 15") in managers
    assert await choosing.matches(ctx, everyone, "managers", "社工15") == []
    # Wildcards are characters; nothing typed offers nothing; an unknown kind nothing.
    assert await choosing.matches(ctx, everyone, "holders", "%") == []
    assert await choosing.matches(ctx, everyone, "holders", "  ") == []
    assert await choosing.matches(ctx, everyone, "people", "经理") == []


async def test_a_typed_filter_is_read_as_the_id_it_names(district: ServiceContext) -> None:
    ctx = district
    everyone = await viewer(ctx, DISTRICT)

    async def read(community: str = "", holder: str = "") -> choosing.Offered:
        typed = listing.Filters(community=community, holder=holder)
        return await choosing.offered(ctx, everyone, typed)

    by_name = await read(community="第12社区", holder="经理12")
    assert (by_name.filters.community, by_name.filters.holder) == ("c012", "mgr-c012")
    assert by_name.chosen["community"] == ("c012", "第12社区", "Community 12")
    assert not by_name.problems
    assert (await read(community="community 12")).filters.community == "c012"  # English, any case
    assert (await read(community="c012")).filters.community == "c012"
    unknown = await read(community="第999社区", holder="nobody")
    assert (unknown.filters.community, unknown.filters.holder) == ("", "")
    assert unknown.problems == {
        "community": "web.typed_community_unknown",
        "holder": "web.typed_holder_unknown",
    }
    twins = await read(community="双子社区")
    assert twins.filters.community == ""
    assert twins.problems == {"community": "web.typed_community_several"}
    assert (await read(community=TWINS[1])).filters.community == TWINS[1]  # by id: the one


async def test_what_is_typed_is_bounded_and_cleaned() -> None:
    assert choosing.typed("经理\u202e12\x00 ") == "经理12"
    assert len(choosing.typed("x" * 5000)) == choosing.MAX_TYPED


async def test_managers_and_supervisors_type_among_their_own(district: ServiceContext) -> None:
    ctx = district
    async with ctx.db.reading() as session:
        wanted = select(Person.id).where(col(Person.id).in_(["mgr-c015", "sup-c015"]))
        assert len((await session.exec(wanted)).all()) == 2
    manager = await viewer(ctx, "mgr-c015")
    assert [h[0] for h in await choosing.matches(ctx, manager, "holders", "15")] == ["mgr-c015"]
    assert await choosing.matches(ctx, manager, "managers", "经理") == []  # no bulk form
    supervisor = await viewer(ctx, "sup-c015")
    found = await choosing.matches(ctx, supervisor, "holders", "c015")
    assert {h[0] for h in found} == {"mgr-c015", "sup-c015"}
