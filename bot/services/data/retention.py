"""Retention: what a community no longer needs is dropped daily, in writes short enough that the
single writer is never held for long (docs/reference.md §2, "Backups and retention")."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Executable,
    Select,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy import select as core_select

from bot.services.unit.context import Actor, ServiceContext, ServiceRefusal
from bot.services.unit.work import unit_of_work
from core.cases import TERMINAL
from db import models

# Rows per write: each write changes at most this many rows, found by their primary key (200
# rows of texts took PostgreSQL 12 ms at p50 on a busy 2-core machine, 100 took 7 ms; SQLite
# less; bench/retention.py measures it).
BATCH = 100
# Photos go with their bytes (SQLite frees a blob page by page, ~10 ms a MB on that machine): a
# write deletes at most this many, and about this many bytes; a larger photo alone.
PHOTO_BATCH = 50
PHOTO_BYTES = 2 << 20
# Rows read per step of a walk in key order (a read takes no write turn).
WALK = 2000
# Between two writes: the units queued meanwhile (a report, a claim) take the writer first.
PAUSE = 0.005

_OUTBOX, _RECEIPT, _DRAFT, _PHOTO, _CASE, _PERSON, _IDENTITY = (
    cast(Table, model.__table__)  # type: ignore[union-attr]
    for model in (
        models.OutboxMessage,
        models.InboundReceipt,
        models.Draft,
        models.CasePhoto,
        models.Case,
        models.Person,
        models.Identity,
    )
)
# A message no longer waiting: sent, or given up on (dead, suppressed, superseded). Its text names
# people and places as a sent one does; what reads an old row later (a card's next edit comparing
# what it said) finds it empty and simply sends the edit. Said as NOT IN: SQLite's planner would
# take ``status IN (…)`` to the status index and scan every sent row instead of the ids given.
_WAITING = tuple(s.value for s in models.WAITING)
_ENDED = tuple(sorted(s.value for s in TERMINAL))
# When a case ended: closed_at is stamped on every way into a terminal status.
_ended_at = func.coalesce(_CASE.c.closed_at, _CASE.c.updated_at)


@dataclass(frozen=True, slots=True)
class Retention:
    """How many days each kind of data is kept (0: for ever); the settings' RETAIN_* and
    ANONYMISE_REPORTERS_DAYS."""

    message_text_days: int = 180
    receipts_days: int = 30
    drafts_days: int = 7
    photos_days: int = 730
    anonymise_reporters_days: int = 0


@dataclass(slots=True)
class Swept:
    """What one run dropped, per kind, with its writes: how long each held the writer (from
    asking to its commit) and how long its statement ran inside the writer."""

    dropped: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # reporters the people service would not anonymise (the directory lists them)
    writes: int = 0
    longest: float = 0.0  # seconds: the longest write, from asking the writer to its commit
    held: dict[str, list[float]] = field(default_factory=dict)  # each write's seconds, by kind
    ran: dict[str, list[float]] = field(default_factory=dict)  # its statement's, by kind

    def note(self, kind: str, rows: int, seconds: float, ran: float | None = None) -> None:
        """Count one write."""
        self.dropped[kind] += rows
        self.writes += 1
        self.longest = max(self.longest, seconds)
        self.held.setdefault(kind, []).append(seconds)
        if ran is not None:
            self.ran.setdefault(kind, []).append(ran)


async def retain(ctx: ServiceContext, policy: Retention, *, pause: float = PAUSE) -> Swept:
    """One retention run: message texts, receipts, drafts, photos of ended cases, then (when on)
    their reporters, each in short writes with a pause between them."""
    now, run = ctx.clock(), _Run(ctx, Swept(), pause)
    for days, step in (
        (policy.message_text_days, run.texts),
        (policy.receipts_days, run.receipts),
        (policy.drafts_days, run.drafts),
        (policy.photos_days, run.photos),
        (policy.anonymise_reporters_days, run.reporters),
    ):
        if days > 0:  # 0 keeps for ever
            await step(now - timedelta(days=days))
    return run.swept


def _rows_changed(statement: Executable) -> Callable[[Connection], tuple[int, float]]:
    """A unit for the writer: one statement; the number of rows it changed, and its seconds."""

    def work(conn: Connection) -> tuple[int, float]:
        started = time.perf_counter()
        rows = int(conn.execute(statement).rowcount)
        return rows, time.perf_counter() - started

    return work


@dataclass(slots=True)
class _Run:
    """A run's walks: each reads keys in order (no write turn), then writes them in batches."""

    ctx: ServiceContext
    swept: Swept
    pause: float

    async def _read(self, query: Select[Any]) -> Sequence[Any]:
        # A short read transaction per step: a long one would keep SQLite's WAL from being reset.
        async with self.ctx.db.reading() as session:
            rows: Sequence[Any] = (await (await session.connection()).execute(query)).all()
            return rows

    async def _write(self, kind: str, statement: Executable) -> None:
        started = time.perf_counter()
        rows, ran = await self.ctx.db.write(_rows_changed(statement))
        self.swept.note(kind, rows, time.perf_counter() - started, ran)
        await self._settle()

    async def _settle(self) -> None:
        """Between two writes: the WAL copied into SQLite's file off the writer (else the
        commit that takes it past the auto-checkpoint's 1,000 pages copies it, fsync and all,
        holding the turn: up to 60 ms measured), then a pause for the units queued meanwhile."""
        if self.ctx.db.is_sqlite:
            async with self.ctx.db.reading() as session:  # BEGIN, no read yet: may checkpoint
                await (await session.connection()).exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        await asyncio.sleep(self.pause)

    async def _in_batches(
        self, kind: str, keys: Sequence[Any], statement: Callable[[list[Any]], Executable]
    ) -> None:
        for start in range(0, len(keys), BATCH):
            await self._write(kind, statement(list(keys[start : start + BATCH])))

    async def _walk_ids(
        self,
        kind: str,
        table: Table,
        due: Any,
        newer: Any,
        statement: Callable[[list[int]], Executable],
    ) -> None:
        """Walk ``table`` in id order, changing the rows ``due``; ids grow with time, so the walk
        ends at the first step that meets a row written after the cutoff (``newer``). The
        conditions are read as values, not filtered on, so every step stays on the key."""
        after = 0
        while True:
            rows = await self._read(
                core_select(table.c.id, due.label("due"), newer.label("newer"))
                .where(table.c.id > after)
                .order_by(table.c.id)
                .limit(WALK)
            )
            await self._in_batches(kind, [row.id for row in rows if row.due], statement)
            if len(rows) < WALK or any(row.newer for row in rows):
                return
            after = rows[-1].id

    async def texts(self, cutoff: datetime) -> None:
        """The text and parameters of messages no longer waiting, sent before ``cutoff``."""
        o = _OUTBOX
        old = and_(o.c.status.not_in(_WAITING), func.coalesce(o.c.sent_at, o.c.created_at) < cutoff)
        kept = or_(o.c.text != "", sql_cast(o.c.params, String) != "{}")
        await self._walk_ids(
            "texts",
            o,
            and_(old, kept),
            o.c.created_at >= cutoff,
            lambda ids: update(o).where(o.c.id.in_(ids), old).values(text="", params={}),
        )

    async def receipts(self, cutoff: datetime) -> None:
        """The receipts of inbound messages received before ``cutoff``."""
        r = _RECEIPT
        old = r.c.received_at < cutoff
        await self._walk_ids(
            "receipts", r, old, ~old, lambda ids: delete(r).where(r.c.id.in_(ids), old)
        )

    async def drafts(self, cutoff: datetime) -> None:
        """Drafts (a guided report, a question) last changed before ``cutoff``."""
        d = _DRAFT
        old = d.c.updated_at < cutoff  # checked again as it is deleted: one just answered stays
        after = ""
        while True:
            query = core_select(d.c.chat).where(d.c.chat > after, old).order_by(d.c.chat)
            chats = [row.chat for row in await self._read(query.limit(BATCH))]
            await self._in_batches(
                "drafts", chats, lambda keys: delete(d).where(d.c.chat.in_(keys), old)
            )
            if len(chats) < BATCH:
                return
            after = chats[-1]

    async def photos(self, cutoff: datetime) -> None:
        """The photos of cases that ended before ``cutoff`` (closed, cancelled, rejected)."""
        p, c = _PHOTO, _CASE
        ended = and_(c.c.status.in_(_ENDED), _ended_at < cutoff)
        after = 0
        while True:  # the cases that have photos, from the photos' own index on case_number
            query = core_select(p.c.case_number).where(p.c.case_number > after)
            query = query.group_by(p.c.case_number).order_by(p.c.case_number).limit(WALK)
            numbers = [row.case_number for row in await self._read(query)]
            if not numbers:
                return
            after = numbers[-1]
            query = core_select(c.c.number).where(c.c.number.in_(numbers), ended)
            done = [row.number for row in await self._read(query)]
            size = func.coalesce(p.c.size, func.length(p.c.content), 0).label("size")
            query = core_select(p.c.id, p.c.case_number, size).where(p.c.case_number.in_(done))
            for batch in _photo_batches(await self._read(query.order_by(p.c.id))) if done else []:
                # Each only while its case is still ended (not reopened since it was read).
                still = core_select(c.c.number).where(c.c.number.in_({n for _, n in batch}), ended)
                ids = [photo for photo, _ in batch]
                await self._write(
                    "photos", delete(p).where(p.c.id.in_(ids), p.c.case_number.in_(still))
                )

    async def reporters(self, cutoff: datetime) -> None:
        """Anonymise the reporters whose every case ended before ``cutoff`` (as ``people erase``
        does, audited as an erase by the system), one person per unit of work; the people
        service refuses the directory's own."""
        # Loaded only when anonymisation is on (it is off by default).
        from bot.services.data import audit
        from bot.services.data.people import anonymise_in

        c = _CASE
        still_open = func.max(case((c.c.status.in_(_ENDED), 0), else_=1))
        after = ""
        while True:
            query = core_select(c.c.resident_id).where(c.c.resident_id > after)
            query = query.group_by(c.c.resident_id).order_by(c.c.resident_id).limit(BATCH)
            query = query.having(and_(still_open == 0, func.max(_ended_at) < cutoff))
            people = [row.resident_id for row in await self._read(query)]
            if not people:
                return
            after = people[-1]
            for person_id in await self._quiet_since(people, cutoff):
                started = time.perf_counter()
                try:
                    async with unit_of_work(self.ctx) as unit:
                        erased = await anonymise_in(unit, person_id)
                        await audit.record(unit, kind="erase", person=erased, actor=Actor.system())
                except ServiceRefusal:
                    self.swept.refused += 1
                    continue
                self.swept.note("reporters", 1, time.perf_counter() - started)
                await self._settle()

    async def _quiet_since(self, people: list[str], cutoff: datetime) -> list[str]:
        """Of ``people``: those with something left to anonymise (an address, a name) who are
        in no conversation and have not written since ``cutoff`` (while receipts tell); the
        directory's own people aside, as the people service refuses them."""
        person, identity, receipt = _PERSON, _IDENTITY, _RECEIPT
        mine = identity.c.person_id == person.c.id
        wrote = exists().where(mine, receipt.c.sender == identity.c.address)
        query = core_select(person.c.id).where(
            person.c.id.in_(people),
            or_(exists().where(mine), person.c.name != ""),
            or_(person.c.source != "directory", person.c.active.is_(False)),
            person.c.id.not_in(core_select(_DRAFT.c.person_id)),  # one list, not a scan each
            ~wrote.where(receipt.c.received_at >= cutoff),
        )
        return [row.id for row in await self._read(query.order_by(person.c.id))]


def _photo_batches(found: Sequence[Any]) -> list[list[tuple[int, int]]]:
    """Photos (id, case) in batches of at most PHOTO_BATCH photos and PHOTO_BYTES bytes (a
    larger photo alone)."""
    batches: list[list[tuple[int, int]]] = []
    size = 0
    for row in found:
        if not batches or len(batches[-1]) >= PHOTO_BATCH or size + row.size > PHOTO_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((row.id, row.case_number))
        size += row.size
    return batches
