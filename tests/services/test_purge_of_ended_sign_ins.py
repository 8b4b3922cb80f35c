"""The scheduler's purge: sign-in links used or expired, sessions idle 8 hours or past their
absolute end, and invites used or expired are deleted; what can still be used stays. The job
itself runs the same purge."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlmodel import select

from bot.services.staff import signin
from bot.services.talk.invites import create_invite, purge_invites
from bot.services.talk.replies import bind_invite
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from db.models import ConsoleLogin, ConsoleSession, Invite
from db.models.sessions import hashed
from scheduler.jobs import Clockwork
from tests.conftest import Clock

STAFF, MANAGER = "liubo", "mgr-jzsj-south"


async def _left(ctx: ServiceContext) -> tuple[set[str], set[str], set[str]]:
    """The hashes left: of sign-in links, of sessions, of invites."""
    async with ctx.db.reading() as session:
        links = set((await session.exec(select(ConsoleLogin.token_hash))).all())
        sessions = set((await session.exec(select(ConsoleSession.id_hash))).all())
        invites = set((await session.exec(select(Invite.code_hash))).all())
    return links, sessions, invites


async def _signed_in(ctx: ServiceContext, lifetime: timedelta) -> str:
    token, _ = await signin.issue_token(ctx, person_id=STAFF)
    signed = await signin.sign_in(ctx, token=token, previous=None, lifetime=lifetime)
    assert signed is not None
    return signed.session_id


async def test_what_has_ended_is_purged_and_what_lives_stays(
    loaded: ServiceContext, clock: Clock
) -> None:
    # Sessions: one to idle out, one with a 2-hour lifetime, one its user keeps using.
    idle = await _signed_in(loaded, timedelta(hours=24))
    short = await _signed_in(loaded, timedelta(hours=2))
    alive = await _signed_in(loaded, timedelta(hours=24))
    # Links: those three spent, one more used (its session idles out too), one left to expire.
    used, _ = await signin.issue_token(loaded, person_id=STAFF)
    assert await signin.sign_in(loaded, token=used, previous=None) is not None
    expired, _ = await signin.issue_token(loaded, person_id=STAFF)
    # Invites: one used, one still good (7 days).
    bound = await create_invite(loaded, person_id=MANAGER)
    assert await bind_invite(loaded, Inbound("telegram", "s-1", address="880001"), code=bound.code)
    good_invite = await create_invite(loaded, person_id="mgr-yuanxiang")

    clock.advance(hours=7, minutes=59)
    assert await signin.current(loaded, session_id=alive) is not None  # its user's request
    clock.advance(minutes=1)  # "idle": 8 hours without a request; "short": past its 2 hours
    good_link, _ = await signin.issue_token(loaded, person_id=STAFF)

    ended = await signin.purge(loaded)
    gone_invites = await purge_invites(loaded)
    links, sessions, invites = await _left(loaded)
    assert sessions == {hashed(alive)}
    assert hashed(idle) not in sessions
    assert hashed(short) not in sessions
    assert ended.sessions == 3  # "idle", "short", and the one the used link started
    assert links == {hashed(good_link)}
    assert ended.links == 5  # three spent on the sessions, the one used, the one expired
    assert hashed(expired) not in links
    assert invites == {hashed(good_invite.code)}
    assert gone_invites == 1  # the used one

    # A week on, everything has ended: the scheduler's job purges it all.
    clock.advance(days=7)
    await Clockwork(loaded, tz=UTC, sweep_seconds=60, on_work=lambda: None).purge()
    assert await _left(loaded) == (set(), set(), set())


async def test_a_purge_of_nothing_deletes_nothing(loaded: ServiceContext) -> None:
    token, _ = await signin.issue_token(loaded, person_id=STAFF)
    made = await create_invite(loaded, person_id=MANAGER)
    ended = await signin.purge(loaded)
    assert (ended.links, ended.sessions, await purge_invites(loaded)) == (0, 0, 0)
    links, _, invites = await _left(loaded)
    assert links == {hashed(token)}
    assert invites == {hashed(made.code)}
