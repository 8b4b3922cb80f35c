"""Loading a directory into the database (docs/reference.md §3): idempotent, updates by id,
keeps history.

Edited directories are the example's data changed in place, then validated as a file would be.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels import BOOK
from bot.directory_file import read_directory
from bot.services.cases import lifecycle
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.staff import views
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.cases import Channel
from core.directory import Directory
from db import queries
from db.directory_cache import DirectoryCache
from db.engine import Database
from db.models import Community, Identity, Person
from tests.cli.conftest import table_contents
from tests.conftest import EXAMPLE

Data = dict[str, Any]
PARCELS = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼")


def edited(*edits: Callable[[Data], None]) -> Directory:
    """The example directory with ``edits`` applied to its data, read back as a file."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for edit in edits:
        edit(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edited.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return read_directory(path)


def drop_person(person_id: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        data["people"] = [p for p in data["people"] if p["id"] != person_id]
        for community in data["communities"]:
            community["staff"] = [s for s in community.get("staff", []) if s != person_id]

    return edit


def rename_person(old: str, new: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        next(p for p in data["people"] if p["id"] == old)["id"] = new

    return edit


def rename_community(old: str, new: str) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        for entry in [*data["people"], *data["routing"]]:
            if entry.get("community") == old:
                entry["community"] = new
        next(c for c in data["communities"] if c["id"] == old)["id"] = new

    return edit


def set_field(section: str, entry_id: str, **values: Any) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        next(e for e in data[section] if e["id"] == entry_id).update(values)

    return edit


async def _row(ctx: ServiceContext, model: type[Any], key: str) -> Any:
    async with ctx.db.reading() as session:
        return await session.get(model, key)


async def _report(ctx: ServiceContext, resident: str = "r-jzsj-172") -> int:
    case = await report(ctx, resident_id=resident, channel=Channel.TELEGRAM, new=PARCELS)
    assert case.number is not None
    return case.number


async def test_loading_twice_changes_nothing(loaded: ServiceContext) -> None:
    before = await table_contents(loaded.db)
    assert len(before["person"]) == len(edited().people)
    summary = await load_directory(loaded, edited())
    assert not summary.changed
    assert set(summary.counts) == {"unchanged"}
    assert await table_contents(loaded.db) == before


async def test_an_edited_file_updates_deactivates_and_deletes(loaded: ServiceContext) -> None:
    number = await _report(loaded)  # r-jzsj-172 now has a case; r-lingfeng-1 has none
    directory = edited(
        drop_person("r-jzsj-172"),
        drop_person("r-lingfeng-1"),
        set_field("communities", "yunwan", name={"zh": "云湾家园", "en": "Yunwan"}),
    )
    summary = await load_directory(loaded, directory)
    assert (summary.counts["deactivated"], summary.counts["deleted"]) == (1, 1)
    assert summary.counts["updated"] == 1

    kept = await _row(loaded, Person, "r-jzsj-172")
    assert kept is not None
    assert (kept.active, kept.name) == (False, "李大爷")  # deactivated: the history keeps a name
    assert await _row(loaded, Person, "r-lingfeng-1") is None
    community = await _row(loaded, Community, "yunwan")
    assert (community.name_zh, community.name_en) == ("云湾家园", "Yunwan")
    shown = await views.show_case(loaded, number=number)
    assert shown is not None
    assert shown["community_name"] == "嘉州水郡南区社区"
    assert [e["actor"] for e in shown["events"]][:1] == ["r-jzsj-172"]

    with pytest.raises(ServiceRefusal):  # a deactivated person reports nothing more
        await _report(loaded)
    # ... but the Telegram account is free again: writing to the bot makes a new resident
    stranger = await _writes(loaded, "telegram", "4001", name="李大爷")
    assert (stranger.id, stranger.active) == ("tg-4001", True)

    second = await load_directory(loaded, directory)
    assert not second.changed


async def test_a_removed_entry_that_has_cases_comes_back(loaded: ServiceContext) -> None:
    await _report(loaded)
    before = await table_contents(loaded.db)
    await load_directory(loaded, edited(drop_person("r-jzsj-172")))
    summary = await load_directory(loaded, edited())  # the example again
    assert summary.changed
    assert await table_contents(loaded.db) == before
    assert await _report(loaded) > 0  # active again, with the case history intact


async def test_a_renamed_person_and_community_take_over_their_numbers(
    loaded: ServiceContext,
) -> None:
    await _report(loaded)  # the person and the community now have a case
    directory = edited(
        rename_person("r-jzsj-172", "r-jzsj-172-li"), rename_community("jzsj-south", "jzsj-s")
    )
    summary = await load_directory(loaded, directory)
    assert (summary.counts["added"], summary.counts["deactivated"]) == (2, 2)

    old_person, _new_person = [
        await _row(loaded, Person, k) for k in ("r-jzsj-172", "r-jzsj-172-li")
    ]
    assert old_person.active is False
    assert await _addresses(loaded, "r-jzsj-172") == {}
    assert await _addresses(loaded, "r-jzsj-172-li") == {
        "telegram": "4001",
        "sms": "+8613900000001",
    }
    old_place, new_place = [await _row(loaded, Community, k) for k in ("jzsj-south", "jzsj-s")]
    assert (old_place.active, old_place.sms_number) == (False, None)
    assert (new_place.active, new_place.sms_number) == (True, "+8610690000001")
    found = await _writes(loaded, "telegram", "4001")
    assert found.id == "r-jzsj-172-li"  # a message from that chat is the new entry's
    assert not (await load_directory(loaded, directory)).changed


async def test_two_people_swap_telegram_accounts(loaded: ServiceContext) -> None:
    directory = edited(
        set_field("people", "liubo", telegram_id=1002),
        set_field("people", "suxinghua", telegram_id=1001),
    )
    summary = await load_directory(loaded, directory)
    assert summary.counts["updated"] == 2
    liubo, suxinghua = [await _addresses(loaded, k) for k in ("liubo", "suxinghua")]
    assert (liubo["telegram"], suxinghua["telegram"]) == ("1002", "1001")


async def test_staff_who_acted_on_a_case_is_deactivated_not_deleted(
    loaded: ServiceContext,
) -> None:
    number = await _report(loaded)
    staff = Actor("liubo", Channel.TELEGRAM)
    await lifecycle.close(loaded, number=number, actor=staff, note="已处理")
    summary = await load_directory(loaded, edited(drop_person("liubo")))
    assert summary.counts["deactivated"] == 1
    liubo = await _row(loaded, Person, "liubo")
    assert liubo is not None  # the audit trail's "liubo" still has a name
    assert (liubo.name, liubo.active) == ("刘博", False)


@contextmanager
def failing_commit() -> Iterator[None]:
    """The database fails at commit, after every change was written."""

    def fail(session: Session) -> None:
        raise ConnectionError("the database went away before commit")

    event.listen(Session, "before_commit", fail)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", fail)


async def test_a_load_that_fails_changes_nothing(loaded: ServiceContext) -> None:
    await _report(loaded)
    before = await table_contents(loaded.db)
    directory = edited(
        drop_person("r-jzsj-172"),
        drop_person("r-lingfeng-1"),
        rename_community("jzsj-north", "jzsj-n"),
        set_field("categories", "parcels", resolve_within="24h"),
    )
    with failing_commit(), pytest.raises(ConnectionError):
        await load_directory(loaded, directory)
    assert await table_contents(loaded.db) == before


async def test_a_reload_keeps_what_people_set_up_themselves(loaded: ServiceContext) -> None:
    """An invite's Telegram binding and a /lang choice survive loading the same file again."""
    async with loaded.db.transaction() as session:
        manager = await session.get(Person, "mgr-yuanxiang")  # no telegram_id in the file
        resident = await session.get(Person, "r-jzsj-172")
        assert manager is not None
        assert resident is not None
        manager.language = "en"
        session.add(manager)
        now = loaded.clock()
        session.add(
            Identity(person_id=manager.id, channel="telegram", address="777", updated_at=now)
        )
    summary = await load_directory(loaded, read_directory(EXAMPLE))
    assert not summary.changed
    async with loaded.db.reading() as session:
        manager = await session.get(Person, "mgr-yuanxiang")
    assert manager is not None
    assert manager.language == "en"
    assert (await _addresses(loaded, "mgr-yuanxiang"))["telegram"] == "777"


async def _addresses(ctx: ServiceContext, person_id: str) -> dict[str, str]:
    """A person's addresses by channel."""
    async with ctx.db.reading() as session:
        found = await queries.identities(session=session, person_ids=[person_id])
    return {i.channel: i.address for i in found.get(person_id, [])}


async def _writes(ctx: ServiceContext, channel: str, address: str, name: str = "") -> Person:
    """Who a message from ``address`` on ``channel`` is from (a stranger becomes a resident)."""
    inbound = Inbound(channel, uuid.uuid4().hex, address=address, name=name)
    async with unit_of_work(ctx, inbound) as unit:
        assert unit.sender is not None
        return unit.sender


def another_process(db: Database) -> Database:
    """The same database as a second process sees it: its own sessions, its own memory (its
    reads take SQLite's write lock too: the same rows)."""
    info = DirectoryCache().session_info()
    make = partial(async_sessionmaker, class_=AsyncSession, expire_on_commit=False, info=info)
    return replace(db, _writer=make(db.engine), _reader=make(db.engine))


async def test_a_directory_loaded_elsewhere_is_seen_by_the_next_report(
    loaded: ServiceContext,
) -> None:
    # This process has the directory in memory from its first report; another process (the
    # operator's `wolaiban directory load`) then moves jzsj-south to another manager.
    first = await report(loaded, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=PARCELS)
    assert first.manager_id == "mgr-jzsj-south"
    other = ServiceContext(channels=BOOK, db=another_process(loaded.db), clock=loaded.clock)

    def reroute(data: Data) -> None:
        data["routing"][0]["manager"] = "mgr-jzsj-north"

    renamed = set_field("categories", "parcels", name={"zh": "快递占道", "en": "Parcels"})
    await load_directory(other, edited(reroute, renamed))
    second = await report(loaded, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=PARCELS)
    assert second.manager_id == "mgr-jzsj-north"
    shown = await views.show_case(loaded, number=second.number or 0)
    assert shown is not None
    assert shown["category_name"] == "快递占道"
    # and loading the example again there brings the old route back here
    await load_directory(other, edited())
    third = await report(loaded, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=PARCELS)
    assert third.manager_id == "mgr-jzsj-south"
