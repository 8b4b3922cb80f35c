"""Signing in to the staff console: one-time links (kept hashed, 10 minutes, once) and the
server-side sessions they start (a new id at each sign-in; they end 8 hours after the user's own
last request, at their absolute end, or at sign-out), and the purge of what has ended."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, or_
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.unit.context import ServiceContext, ServiceRefusal
from bot.services.unit.inbound import Inbound
from bot.services.unit.work import unit_of_work
from core.access import may_use_console
from core.texts import normalize_language
from db import queries
from db.models import ConsoleLogin, ConsoleSession, Person
from db.models.sessions import hashed

LINK_LIFETIME = timedelta(minutes=10)
IDLE_LIMIT = timedelta(hours=8)
# However active, a session ends this long after sign-in (the console sets CONSOLE_SESSION_HOURS).
SESSION_LIFETIME = timedelta(hours=12)
# A session's last-seen time is written at most this often (the list polls every few seconds).
TOUCH_EVERY = timedelta(minutes=1)
MAX_TOKEN = 128


def digest(secret: str) -> str:
    """The stored form of a token or session id: only its hash is kept."""
    return hashed(secret)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session just started: its id (for the cookie, never stored) and its row."""

    session_id: str
    row: ConsoleSession
    person: Person


@dataclass(frozen=True, slots=True)
class Current:
    """The person behind a live session, with the session's row."""

    row: ConsoleSession
    person: Person


@dataclass(frozen=True, slots=True)
class Purged:
    """What a purge deleted: sign-in links used or expired, sessions that ended."""

    links: int
    sessions: int


async def new_link_token(*, session: AsyncSession, person: Person, now: datetime) -> str:
    """A fresh one-time token for ``person`` (refused for anyone not staff, manager or
    supervisor), within the caller's transaction."""
    if not may_use_console(person.role, active=person.active):
        raise ServiceRefusal("refused.console_not_staff")
    token = secrets.token_urlsafe(24)
    session.add(
        ConsoleLogin(
            token_hash=digest(token),
            person_id=person.id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    return token


async def issue_token(ctx: ServiceContext, *, person_id: str) -> tuple[str, Person]:
    """A one-time sign-in token for ``person_id`` (``wolaiban console-link``)."""
    async with ctx.db.transaction() as session:
        person = await queries.get_person(session=session, person_id=person_id)
        if person is None or not person.active:
            raise ServiceRefusal("refused.unknown_person", {"person": person_id})
        return await new_link_token(session=session, person=person, now=ctx.clock()), person


async def link_open(ctx: ServiceContext, *, token: str) -> bool:
    """True while ``token`` may still be spent (known, unused, not expired); nothing changes."""
    if not token or len(token) > MAX_TOKEN:
        return False
    async with ctx.db.reading() as session:
        login = await session.get(ConsoleLogin, digest(token))
    return login is not None and login.used_at is None and ctx.clock() < login.expires_at


async def sign_in(
    ctx: ServiceContext,
    *,
    token: str,
    previous: str | None,
    lifetime: timedelta = SESSION_LIFETIME,
) -> SignedIn | None:
    """Spend ``token`` (once, before it expires) on a new session that ends ``lifetime`` later
    at the latest; the ``previous`` session of this browser, if any, ends (its id never becomes a
    signed-in one). None: the link is unknown, used or expired."""
    if not token or len(token) > MAX_TOKEN:
        return None
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        if previous:
            await _drop(session, previous)
        login = await session.get(ConsoleLogin, digest(token), with_for_update=True)
        if login is None or login.used_at is not None or login.expires_at <= now:
            return None
        login.used_at = now
        session.add(login)
        person = await queries.get_person(session=session, person_id=login.person_id)
        if person is None or not may_use_console(person.role, active=person.active):
            return None
        session_id = secrets.token_urlsafe(32)
        row = ConsoleSession(
            id_hash=digest(session_id),
            person_id=person.id,
            csrf=secrets.token_urlsafe(32),
            language=normalize_language(person.language) or ctx.default_language,
            created_at=now,
            seen_at=now,
            expires_at=now + lifetime,
        )
        session.add(row)
        return SignedIn(session_id, row, person)


async def current(
    ctx: ServiceContext, *, session_id: str, background: bool = False
) -> Current | None:
    """The live session ``session_id`` names and its person; None when there is none, it ended
    (idle, or past its absolute end: then it is deleted) or its person may no longer sign in.
    A ``background`` request (the list refreshing itself) is answered but is not activity: an
    open tab alone does not keep a session alive."""
    now = ctx.clock()
    async with ctx.db.reading() as session:
        row = await session.get(ConsoleSession, digest(session_id))
        person = await queries.get_person(session=session, person_id=row.person_id) if row else None
    if row is None:
        return None
    if _ended(row, now) or person is None or not may_use_console(person.role, active=person.active):
        await sign_out(ctx, session_id=session_id)
        return None
    if not background and row.seen_at + TOUCH_EVERY <= now:
        async with ctx.db.transaction() as session:
            fresh = await session.get(ConsoleSession, row.id_hash)
            if fresh is not None:
                fresh.seen_at = now
                session.add(fresh)
    return Current(row, person)


async def sign_out(ctx: ServiceContext, *, session_id: str) -> None:
    """End the session ``session_id`` (nothing when there is none)."""
    async with ctx.db.transaction() as session:
        await _drop(session, session_id)


async def set_language(ctx: ServiceContext, *, session_id: str, language: str) -> None:
    """The console's language for this session."""
    chosen = normalize_language(language)
    if chosen is None:
        return
    async with ctx.db.transaction() as session:
        row = await session.get(ConsoleSession, digest(session_id))
        if row is not None:
            row.language = chosen
            session.add(row)


def _ended(row: ConsoleSession, now: datetime) -> bool:
    """True once a session has idled out or reached its absolute end."""
    return row.seen_at + IDLE_LIMIT <= now or row.expires_at <= now


async def purge(ctx: ServiceContext) -> Purged:
    """Delete the sign-in links used or expired and the sessions that ended (the scheduler's
    job): what no request can use any more is not kept."""
    now = ctx.clock()
    links = delete(ConsoleLogin).where(
        or_(col(ConsoleLogin.used_at).is_not(None), col(ConsoleLogin.expires_at) <= now)
    )
    sessions = delete(ConsoleSession).where(
        or_(
            col(ConsoleSession.expires_at) <= now,
            col(ConsoleSession.seen_at) <= now - IDLE_LIMIT,
        )
    )
    async with ctx.db.transaction() as session:
        gone_links = (await session.exec(links)).rowcount
        gone_sessions = (await session.exec(sessions)).rowcount
    return Purged(links=gone_links, sessions=gone_sessions)


async def _drop(session: AsyncSession, session_id: str) -> None:
    """Delete a session row by its id."""
    statement = delete(ConsoleSession).where(
        ConsoleSession.id_hash == digest(session_id)  # type: ignore[arg-type]
    )
    await session.exec(statement)


async def text_link(ctx: ServiceContext, *, person: Person, url: str) -> bool:
    """Queue ``url`` by SMS to ``person`` (``console-link --sms``); False when SMS is off here or
    they have no phone that can be reached (the running server's delivery sends it)."""
    from bot.services.unit.outbox import Outbox
    from bot.services.unit.traits import ChannelBook

    sms = ctx.channels.get("sms")
    if sms is None:
        return False
    async with ctx.db.transaction() as session:
        outbox = Outbox(session, ctx.clock(), ctx.default_language, ChannelBook((sms,)))
        key = f"console-link:{digest(url)[:32]}"
        return await outbox.tell(person, "web.link_sms", key=key, params={"url": url}) is not None


async def console_link(ctx: ServiceContext, inbound: Inbound, *, base_url: str | None) -> None:
    """``/web``: a one-time sign-in link to the staff console for staff, managers and
    supervisors; ``base_url`` None: the console is off, and the answer says so."""
    async with unit_of_work(ctx, inbound) as unit:
        person = unit.active_sender()
        if base_url is None:
            await unit.outbox.tell(person, "web.off", key=unit.key())
            return
        token = await new_link_token(session=unit.session, person=person, now=unit.now)
        url = f"{base_url}/console/login/{token}"
        await unit.outbox.tell(person, "web.link", key=unit.key(), params={"url": url})
