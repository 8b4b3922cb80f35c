"""Hashes only at rest: a Telegram invite's code, a console sign-in link's token and a session's
id are nowhere in the database (every column of every row read back with SELECT), only their
sha256 — and each still works when it is presented."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from bot.services.staff import signin
from bot.services.talk.invites import create_invite
from bot.services.talk.replies import bind_invite
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound


async def _cells(ctx: ServiceContext, table: str) -> list[str]:
    """Every value of every row of ``table``, as text."""
    async with ctx.db.reading() as session:
        conn = await session.connection()
        found = await conn.execute(text(f"SELECT * FROM {table}"))  # the tests name the table
        return [str(value) for row in found.all() for value in row]


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def test_an_invite_code_is_kept_only_as_its_hash(loaded: ServiceContext) -> None:
    made = await create_invite(loaded, person_id="mgr-yuanxiang")
    cells = await _cells(loaded, "invite")
    assert _sha256(made.code) in cells
    assert not [c for c in cells if made.code in c]
    # the code itself, presented in /start, still binds the chat
    bound = await bind_invite(
        loaded, Inbound("telegram", "start-1", address="770001"), code=made.code
    )
    assert bound is not None
    assert bound.id == "mgr-yuanxiang"
    # and works once
    again = await bind_invite(
        loaded, Inbound("telegram", "start-2", address="770002"), code=made.code
    )
    assert again is None


async def test_a_hash_presented_as_a_code_binds_nothing(loaded: ServiceContext) -> None:
    made = await create_invite(loaded, person_id="mgr-yuanxiang")
    # what a copy of the database shows is not a code
    bound = await bind_invite(
        loaded, Inbound("telegram", "start-3", address="770003"), code=_sha256(made.code)
    )
    assert bound is None


async def test_sign_in_tokens_and_session_ids_are_kept_only_as_hashes(
    loaded: ServiceContext,
) -> None:
    token, _ = await signin.issue_token(loaded, person_id="liubo")
    logins = await _cells(loaded, "console_login")
    assert _sha256(token) in logins
    assert not [c for c in logins if token in c]
    signed = await signin.sign_in(loaded, token=token, previous=None)
    assert signed is not None
    sessions = await _cells(loaded, "console_session")
    assert _sha256(signed.session_id) in sessions
    assert not [c for c in sessions if signed.session_id in c]
    assert await signin.current(loaded, session_id=signed.session_id) is not None
