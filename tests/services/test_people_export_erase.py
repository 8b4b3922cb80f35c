"""A resident's data on request, through the real services on both databases: the export holds
everything; after the erase a full dump of the database (SQLite's ``iterdump``, ``pg_dump``) holds
neither their phone in any written form nor their chat id, name or photos, the rates do not move,
nothing more goes to them, and their next message starts a stranger. The directory's people are
refused."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy import inspect, make_url, text
from sqlmodel import col, func, select

from bot.directory_file import read_directory
from bot.open311 import keys
from bot.open311.filing import file_request
from bot.open311.form import Filing
from bot.services.cases import lifecycle
from bot.services.cases.photos import NewPhoto
from bot.services.cases.report import NewReport, report
from bot.services.data.erase import read_ahead
from bot.services.data.people import anonymise_in, erase_person, export_person, find_people
from bot.services.data.phones import candidates
from bot.services.directory.load import load_directory
from bot.services.staff.stats import rates
from bot.services.talk import guided, waiting
from bot.services.talk.drafts import CONFIRM
from bot.services.talk.invites import create_invite
from bot.services.talk.replies import bind_invite
from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from bot.sms.handler import InboundSms, handle_sms
from bot.sms.media import Fetched, Medium
from core.cases import Channel, Rating
from db.engine import Database
from db.models import WAITING, Case, Identity, Open311Request, OutboxMessage, Person
from db.models.audit import DataAudit
from sandbox.harness import EXAMPLE
from tests.conftest import Clock

PHONE = "+8613812345678"
# The same phone as people write it; each is in the database before the erase.
FORMS = ("+8613812345678", "8613812345678", "13812345678", "138 1234 5678", "138-1234-5678")
CHAT = "987650061"  # their Telegram chat
NAME = "李小梅"  # the name Telegram gives for them
SMS_ID, TG_ID = f"sms-{PHONE}", f"tg-{CHAT}"
TO = "+8610690000003"  # yuanxiang's number
PHOTO = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
FILE_ID = "AgACAgIAAxkBAAIBxiaomeiFile"
STAFF = Actor("yangzhao", Channel.WEB)  # yuanxiang's staff, at the console
_SEQ = iter(range(1, 10_000))


def _tg(*, press: bool = False) -> Inbound:
    return Inbound(
        "telegram", f"x{next(_SEQ)}", address=CHAT, name=NAME, language="zh", refusal_aside=press
    )


def _sms(body: str, phone: str = PHONE, media: tuple[Medium, ...] = ()) -> InboundSms:
    return InboundSms(f"SMerase{next(_SEQ)}", phone, TO, body, media)


async def _photo(_media: Sequence[Medium]) -> Fetched:
    """The MMS's picture, as the media fetcher hands it over."""
    return Fetched((NewPhoto("sms", content=PHOTO, content_type="image/png"),))


async def _guided(ctx: ServiceContext, place: str, what: str, *, photo: str | None) -> None:
    """A guided Telegram report up to its confirm question."""
    await guided.begin_report(ctx, _tg())
    for choice in ("r:category:1", "r:community:1"):
        assert await waiting.answer(ctx, _tg(press=True), choice=choice)
    assert await waiting.answer(ctx, _tg(), text=place)
    assert await waiting.answer(ctx, _tg(), text=what)
    if photo is not None:
        assert await waiting.answer(ctx, _tg(), photo=photo)
    assert await waiting.answer(ctx, _tg(press=True), choice="r:photos:skip")


async def _cases_of(ctx: ServiceContext, person_id: str) -> list[Case]:
    async with ctx.db.reading() as session:
        query = select(Case).where(Case.resident_id == person_id).order_by(col(Case.number))
        return list((await session.exec(query)).all())


async def _resident(ctx: ServiceContext, clock: Clock) -> list[int]:
    """A resident met on Telegram (a case with a photo), then by SMS (a case with an MMS photo,
    one by the hot path), their chat bound to their phone's record by an invite, a rating with a
    note, a manager's note naming them, and a report left unfinished. Their case numbers."""
    await _guided(ctx, "3号楼二单元 李小梅家门口", "楼道漏水，请联系 138-1234-5678", photo=FILE_ID)
    assert await waiting.answer(ctx, _tg(press=True), choice=CONFIRM)
    clock.advance(minutes=1)
    body = f"电梯坏了 {NAME} +86 138 1234 5678"
    await handle_sms(
        ctx, _sms(body, media=(Medium("https://m.test/1", "image/png"),)), fetch=_photo
    )
    clock.advance(minutes=1)
    await handle_sms(ctx, _sms("路灯坏了，晚上看不见 0086 138 1234 5678"))  # the writer's hot path
    clock.advance(minutes=1)
    invite = await create_invite(ctx, person_id=SMS_ID)
    assert await bind_invite(ctx, _tg(), code=invite.code) is not None
    cases = await _cases_of(ctx, SMS_ID)
    assert [c.channel for c in cases] == ["telegram", "sms", "sms"]  # the chat's case came over
    elevator = cases[1]
    assert elevator.number is not None
    assert elevator.manager_id is not None
    manager = Actor(elevator.manager_id, Channel.SMS)
    clock.advance(minutes=5)
    await lifecycle.acknowledge(ctx, number=elevator.number, actor=manager)
    clock.advance(minutes=30)
    note = f"已联系{NAME}，电话13812345678"
    await lifecycle.resolve(ctx, number=elevator.number, actor=manager, note=note)
    clock.advance(minutes=30)
    await lifecycle.rate(
        ctx,
        number=elevator.number,
        actor=Actor(SMS_ID, Channel.SMS),
        rating=Rating.DISSATISFIED,
        note="还是坏的，回电 8613812345678",
    )
    clock.advance(minutes=1)
    await _guided(ctx, f"找我：{PHONE}", "草稿里的描述", photo=None)  # never confirmed
    return [c.number for c in cases if c.number is not None]


async def dump(db: Database) -> str:
    """The whole database as text: SQLite's ``iterdump``; ``pg_dump`` of the test's schema on
    PostgreSQL (else every column of every row, cast to text)."""
    if db.is_sqlite:
        path = db.engine.url.database
        assert path is not None

        def read() -> str:
            with closing(sqlite3.connect(path)) as conn:
                return "\n".join(conn.iterdump())

        return await asyncio.to_thread(read)
    async with db.engine.connect() as conn:
        schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
    program = shutil.which("pg_dump")
    if program is None:
        return "\n".join(f"{t}: {c}" for t, cells in (await cells(db)).items() for c in cells)
    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    done = await asyncio.create_subprocess_exec(
        program, "--no-owner", "--schema", schema, url, stdout=-1, stderr=-1
    )
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    return out.decode()


async def cells(db: Database) -> dict[str, list[str]]:
    """Every value of every table, as text, by table."""
    found: dict[str, list[str]] = {}
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in sorted(tables):
            rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
            found[table] = [
                value.hex() if isinstance(value, bytes) else str(value)
                for row in rows
                for value in row
            ]
    return found


def _traces(dumped: str) -> list[str]:
    """What of the resident a dump holds."""
    wanted = [*FORMS, CHAT, NAME, FILE_ID, PHOTO.hex(), PHOTO.hex().upper()]
    return [w for w in wanted if w in dumped]


async def _stats(ctx: ServiceContext) -> list[Any]:
    return [await rates(ctx), await rates(ctx, by="community"), await rates(ctx, by="manager")]


async def test_an_erase_leaves_no_trace_of_them_and_the_export_before_held_it_all(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx = loaded
    numbers = await _resident(ctx, clock)
    for form in FORMS[1:]:
        assert [p.id for p in await find_people(ctx, form)] == [SMS_ID]
    [found] = await find_people(ctx, CHAT)
    assert (found.id, found.aliases, found.cases) == (SMS_ID, (TG_ID,), 3)
    assert set(found.identities) == {("sms", PHONE), ("telegram", CHAT)}
    before = await dump(ctx.db)
    assert {*FORMS, CHAT, NAME, FILE_ID} <= set(_traces(before))  # the dump does show them
    assert _hex_in(before)
    stats = await _stats(ctx)

    held = await export_person(ctx, SMS_ID, actor=STAFF)
    exported = json.dumps(held, ensure_ascii=False)
    assert held["person"]["id"] == SMS_ID
    assert [p["id"] for p in held["also_known_as"]] == [TG_ID]
    assert held["also_known_as"][0]["name"] == NAME
    assert {(i["channel"], i["address"]) for i in held["identities"]} == set(found.identities)
    assert [c["number"] for c in held["cases"]] == numbers
    assert "138-1234-5678" in held["cases"][0]["description"]
    assert [e["note"] for e in held["cases"][1]["events"] if e["kind"] == "rated"] == [
        "还是坏的，回电 8613812345678"
    ]
    assert [(p["case"], p["kind"]) for p in held["photos"]] == [
        (numbers[0], "channel_file"),
        (numbers[1], "stored"),
    ]
    assert held["photos"][1]["size"] == len(PHOTO)
    assert PHOTO.hex() not in exported
    assert FILE_ID not in exported
    assert any(PHONE in m["address"] for m in held["messages"])
    assert any(m["address"] == CHAT for m in held["messages"])
    assert len(held["receipts"]) >= 10
    assert len(held["drafts"]) == 1
    assert len(held["invites"]) == 1

    erased = await erase_person(ctx, SMS_ID, actor=STAFF)
    assert erased.person_id.startswith("erased-")
    assert (erased.cases, erased.identities, erased.photos, erased.drafts) == (3, 2, 2, 1)
    assert erased.receipts == len(held["receipts"])
    assert erased.sign_ins == 1
    assert erased.opt_outs_kept == 0

    assert _traces(await dump(ctx.db)) == []
    assert await _stats(ctx) == stats
    kept = await _cases_of(ctx, erased.person_id)
    assert [c.number for c in kept] == numbers
    assert [c.description for c in kept] == [
        "楼道漏水，请联系 ***",
        "电梯坏了 *** ***",
        "路灯坏了，晚上看不见 ***",
    ]
    assert kept[0].location == "3号楼二单元 ***家门口"
    async with ctx.db.reading() as session:
        tombstone = await session.get(Person, erased.person_id)
        assert tombstone is not None
        assert (tombstone.name, tombstone.source, tombstone.active) == ("", "erased", False)
        assert await session.get(Person, SMS_ID) is None
        assert await session.get(Person, TG_ID) is None
        audit = (await session.exec(select(DataAudit).order_by(col(DataAudit.id)))).all()
        assert [(a.kind, a.person, a.actor_id) for a in audit] == [
            ("export", erased.person_id, "yangzhao"),
            ("erase", erased.person_id, "yangzhao"),
        ]
        assert audit[1].detail["photos"] == 2
        waiting_for_them = select(func.count()).where(
            col(OutboxMessage.status).in_(WAITING),
            col(OutboxMessage.address).in_([PHONE, CHAT, ""]),
        )
        assert (await session.exec(waiting_for_them)).one() == 0

    # Nothing more is sent to them: their case moves on, and nobody is told at their address.
    case = kept[1]
    assert case.number is not None
    assert case.manager_id is not None
    await lifecycle.acknowledge(ctx, number=case.number, actor=Actor(case.manager_id, Channel.SMS))
    async with ctx.db.reading() as session:
        told = select(OutboxMessage).where(
            col(OutboxMessage.person_id) == erased.person_id, col(OutboxMessage.status).in_(WAITING)
        )
        assert (await session.exec(told)).all() == []

    # Their next text starts a stranger, with no case of before.
    answer = await handle_sms(ctx, _sms("垃圾桶满了"))
    assert answer
    async with ctx.db.reading() as session:
        [holder] = (await session.exec(select(Identity).where(Identity.address == PHONE))).all()
    assert holder.person_id == SMS_ID  # the id a stranger at this number gets
    assert [c.number for c in await _cases_of(ctx, SMS_ID)] == [max(numbers) + 1]
    # And so does their next Telegram message.
    await guided.begin_report(ctx, _tg())
    async with ctx.db.reading() as session:
        stranger = await session.get(Person, TG_ID)
        assert stranger is not None
        assert (stranger.source, stranger.active) == ("telegram", True)
        held_by = select(Identity.person_id).where(Identity.address == CHAT)
        assert (await session.exec(held_by)).all() == [TG_ID]
    assert await _cases_of(ctx, TG_ID) == []


def _hex_in(dumped: str) -> list[str]:
    """The forms of the photo's bytes this dump writes them in (SQLite upper case, PostgreSQL
    lower)."""
    return [h for h in (PHOTO.hex(), PHOTO.hex().upper()) if h in dumped]


async def test_a_stop_is_still_honoured_after_the_erase_and_is_all_that_is_left(
    loaded: ServiceContext, clock: Clock
) -> None:
    ctx, phone = loaded, "+8613812340001"
    await handle_sms(ctx, _sms("电梯坏了", phone=phone))
    clock.advance(minutes=1)
    await handle_sms(ctx, _sms("STOP", phone=phone))
    erased = await erase_person(ctx, f"sms-{phone}", actor=STAFF)
    assert erased.opt_outs_kept == 1
    found = {t: c for t, c in (await cells(ctx.db)).items() if any("13812340001" in v for v in c)}
    assert list(found) == ["opt_out"]


async def test_the_directory_people_are_refused_and_nothing_changes(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    before = await cells(ctx.db)
    for person_id in ("r-jzsj-172", "liubo", "mgr-yuanxiang"):
        with pytest.raises(ServiceRefusal) as refused:
            await erase_person(ctx, person_id, actor=STAFF)
        assert refused.value.reason == "people.listed"
    with pytest.raises(ServiceRefusal) as unknown:
        await erase_person(ctx, "nobody-here", actor=STAFF)
    assert unknown.value.reason == "refused.unknown_person"
    assert await cells(ctx.db) == before


async def test_once_the_directory_no_longer_lists_them_they_can_be_erased(
    loaded: ServiceContext,
) -> None:
    """The refusal's advice, followed: 张阿姨 reported a case, is taken out of the directory file
    (her record stays, retired, for the case), and then she is erased."""
    ctx, resident = loaded, "r-lingfeng-1"
    new = NewReport("lingfeng", "parking", "车位被占 张阿姨 13900000004", location="1号楼")
    case = await report(ctx, resident_id=resident, channel=Channel.SMS, new=new)
    with pytest.raises(ServiceRefusal):
        await erase_person(ctx, resident, actor=STAFF)
    listed = read_directory(EXAMPLE)
    others = [p for p in listed.people if p.id != resident]
    summary = await load_directory(ctx, listed.model_copy(update={"people": others}))
    assert summary.counts["deactivated"] == 1
    erased = await erase_person(ctx, resident, actor=STAFF)
    async with ctx.db.reading() as session:
        kept = await session.get(Case, case.number)
        assert await session.get(Person, resident) is None
    assert kept is not None
    assert (kept.resident_id, kept.description) == (erased.person_id, "车位被占 *** ***")
    tables = await cells(ctx.db)
    assert not [t for t, c in tables.items() if any("张阿姨" in v or "13900000004" in v for v in c)]


async def test_a_person_is_erased_once(loaded: ServiceContext) -> None:
    ctx = loaded
    await handle_sms(ctx, _sms("电梯坏了", phone="+8613812340002"))
    erased = await erase_person(ctx, "sms-+8613812340002", actor=STAFF)
    with pytest.raises(ServiceRefusal) as again:
        await erase_person(ctx, erased.person_id, actor=STAFF)
    assert again.value.reason == "people.erased_before"


async def test_messages_queued_after_the_read_ahead_are_cleaned_too(
    loaded: ServiceContext, clock: Clock
) -> None:
    """Retention's way: read ahead outside the write (SQLite), then anonymise in a unit of work.
    A message to them queued in between (the answer to their HELP, of no case) is found too."""
    ctx, phone = loaded, "+8613812340003"
    await handle_sms(ctx, _sms("电梯坏了", phone=phone))
    seen = await read_ahead(ctx, f"sms-{phone}")
    assert (seen is not None) == ctx.db.is_sqlite  # PostgreSQL's write reads the outbox itself
    async with ctx.db.reading() as session:
        newest = (await session.exec(select(func.max(OutboxMessage.id)))).one()
    clock.advance(minutes=1)
    assert await handle_sms(ctx, _sms("帮助", phone=phone))
    async with unit_of_work(ctx) as unit:
        new_id = await anonymise_in(unit, f"sms-{phone}", seen=seen)
    async with ctx.db.reading() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    later = [r for r in rows if r.id is not None and newest is not None and r.id > newest]
    assert [(r.person_id, r.address, r.case_number) for r in later] == [(new_id, "", None)]
    assert not [r for r in rows if phone in f"{r.person_id}{r.address}"]


async def test_an_open311_filer_loses_account_contact_phone_and_name_and_staff_keep_theirs(
    loaded: ServiceContext,
) -> None:
    """A client's resident: the account id, photo URL, name and the contact phone given (here a
    staff member's number, which stays his) leave the case's records."""
    ctx, staff_phone = loaded, "+8613800000003"  # 杨钊's, of the example directory
    key = await keys.check_key(ctx, await keys.create_key(ctx, name="city", communities=[]))
    assert isinstance(key, keys.Key)
    filing = Filing(
        "yuanxiang",
        "elevator",
        "王小二报：电梯坏了，电话 138 0000 0003",
        "5号楼",
        account_id="acct-42",
        phone=staff_phone,
        name="王小二",
        media_url="https://photos.test/p.jpg",
    )
    case = await file_request(ctx, filing, key, language="zh")
    assert case.number is not None
    assert "acct-42" in await dump(ctx.db)
    erased = await erase_person(ctx, case.resident_id, actor=STAFF)
    async with ctx.db.reading() as session:
        kept = await session.get(Case, case.number)
        filed = await session.get(Open311Request, case.number)
        staff = await session.exec(
            select(Identity.person_id).where(Identity.address == staff_phone)
        )
        assert staff.all() == ["yangzhao"]
    assert kept is not None
    assert (kept.resident_id, kept.description) == (erased.person_id, "***报：电梯坏了，电话 ***")
    assert filed is not None
    assert (filed.account_id, filed.media_url, filed.key_name) == (None, None, "city")
    dumped = await dump(ctx.db)
    assert "acct-42" not in dumped
    assert "王小二" not in dumped
    tables = await cells(ctx.db)
    for table in ("cases", "case_event", "open311_request"):
        assert not [c for c in tables[table] if "0000 0003" in c or "13800000003" in c], table


def test_a_phone_is_read_in_any_written_form() -> None:
    for written in (
        "+86 138 1234 5678",
        "8613812345678",
        "13812345678",
        "138-1234-5678",
        "0086 138 1234 5678",
        "１３８１２３４５６７８",
    ):
        assert candidates(written)[0] == PHONE, written
    assert candidates("+44 7700 900123") == ["+447700900123"]
    assert candidates("r-jzsj-172") == []
