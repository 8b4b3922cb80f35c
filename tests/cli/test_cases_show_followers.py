"""``cases show`` and ``cases list`` tell of the crowd (docs/reference.md §1): every case object
counts its followers, ``show --json`` lists who follows by person id (the channel, since when,
the case a merge brought them from, their feedback) and no name or phone, and the table says
the same; a merged duplicate names its original."""

from __future__ import annotations

from bot.services.cases import lifecycle, merge
from bot.services.cases.following import follow_in
from bot.services.cases.report import NewReport, report
from bot.services.staff import views
from bot.services.unit.context import Actor, ServiceContext
from bot.services.unit.work import unit_of_work
from core.cases import Channel, Rating
from db import queries
from tests.cli.conftest import Cli
from tests.conftest import Clock

MANAGER, STAFF = Actor("mgr-jzsj-south", Channel.TELEGRAM), Actor("liubo", Channel.TELEGRAM)
NEIGHBOUR = Actor("r-yunwan-en", Channel.TELEGRAM)
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼门口")


def _crowd(cli: Cli, clock: Clock) -> tuple[int, int]:
    """A (10:00), followed by a neighbour (10:05); B, the same problem texted in (10:10) by
    r-bgy-72, merged into A (10:15); A fixed, and the neighbour rates it."""

    async def work(ctx: ServiceContext) -> tuple[int, int]:
        a = await report(ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=PARCELS)
        assert a.number is not None
        clock.advance(minutes=5)
        async with unit_of_work(ctx) as unit:
            person = await queries.get_person(session=unit.session, person_id="r-yunwan-en")
            assert person is not None
            await follow_in(unit, person=person, number=a.number, channel=Channel.TELEGRAM)
        clock.advance(minutes=5)
        b = await report(ctx, resident_id="r-bgy-72", channel=Channel.SMS, new=PARCELS)
        assert b.number is not None
        clock.advance(minutes=5)
        await merge.merge(ctx, number=b.number, into=a.number, actor=STAFF)
        await lifecycle.resolve(ctx, number=a.number, actor=MANAGER)
        rating = Rating.BASICALLY_SATISFIED
        await lifecycle.rate(ctx, number=a.number, actor=NEIGHBOUR, rating=rating)
        return a.number, b.number

    return cli.services(clock, work)


def test_show_json_lists_who_follows(loaded_cli: Cli, clock: Clock) -> None:
    a, b = _crowd(loaded_cli, clock)
    shown = loaded_cli.json("cases", "show", str(a))
    assert shown["followers"] == 2
    assert shown["following"] == [
        {
            "person": "r-yunwan-en",
            "channel": "telegram",
            "since": "2026-11-25T10:05:00+08:00",
            "via_case": None,
            "rating": "basically_satisfied",  # their feedback; the case waits for its reporter
        },
        {
            "person": "r-bgy-72",
            "channel": "sms",  # as they reported B
            "since": "2026-11-25T10:15:00+08:00",
            "via_case": b,
            "rating": None,
        },
    ]
    assert shown["status"] == "resolved"
    # By id, as ``resident`` names the reporter: no follower's name, no phone.
    printed = str(shown["following"])
    assert "何女士" not in printed
    assert "+8613900000002" not in printed

    duplicate = loaded_cli.json("cases", "show", str(b))
    assert (duplicate["status"], duplicate["duplicate_of"]) == ("rejected", a)
    assert (duplicate["followers"], duplicate["following"]) == (0, [])


def test_list_json_counts_the_followers_of_every_case(loaded_cli: Cli, clock: Clock) -> None:
    a, b = _crowd(loaded_cli, clock)
    listed = loaded_cli.json("cases", "list", "--status", "resolved", "--status", "rejected")
    assert {c["number"]: (c["followers"], c["duplicate_of"]) for c in listed} == {
        a: (2, None),
        b: (0, a),
    }
    assert all("following" not in c for c in listed)  # who follows: ``show`` only


def test_show_table_says_who_follows(loaded_cli: Cli, clock: Clock) -> None:
    a, b = _crowd(loaded_cli, clock)
    done = loaded_cli("cases", "show", str(a))
    assert done.code == 0, done.err
    parts = done.out.split("\n\n")
    head = {line.split()[0]: line.split()[1:] for line in parts[0].splitlines()[2:]}
    assert head["关注人数"] == ["2"]
    following = done.out.split("关注者\n", 1)[1].splitlines()
    assert following[0].split() == ["居民", "渠道", "关注时间", "合并自", "评价"]
    assert following[2].split() == [
        "r-yunwan-en",
        "telegram",
        "2026-11-25T10:05:00+08:00",
        "基本满意",
    ]
    assert following[3].split() == ["r-bgy-72", "sms", "2026-11-25T10:15:00+08:00", f"#{b}"]
    alone = loaded_cli("cases", "show", str(b))
    assert "关注者\n" not in alone.out  # nobody follows the duplicate: no table


async def test_the_views_read_the_same_on_each_database(
    loaded: ServiceContext, clock: Clock
) -> None:
    """What ``show`` and ``list`` print, read on SQLite and PostgreSQL alike."""
    a = await report(loaded, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=PARCELS)
    b = await report(loaded, resident_id="r-bgy-72", channel=Channel.SMS, new=PARCELS)
    assert a.number is not None
    assert b.number is not None
    await merge.merge(loaded, number=b.number, into=a.number, actor=STAFF)
    shown = await views.show_case(loaded, number=a.number)
    assert shown is not None
    assert shown["followers"] == 1
    assert shown["following"] == [
        {
            "person": "r-bgy-72",
            "channel": "sms",
            "since": "2026-11-25T10:00:00+08:00",
            "via_case": b.number,
            "rating": None,
        }
    ]
    listed = await views.list_cases(loaded, statuses=None)
    assert [(c["number"], c["followers"]) for c in listed] == [(a.number, 1), (b.number, 0)]
