"""What survives: a conversation across a restart, an update Telegram delivers twice, and a
resident who blocked the bot (dead-lettered, marked unreachable, an SMS queued instead)."""

from __future__ import annotations

import pytest

from bot.channels import BOOK
from bot.cli import commands
from bot.cli.main import build_parser
from bot.delivery.store import outbox_messages
from bot.services.unit.context import ServiceContext
from db.engine import Database
from tests.e2e.conftest import MANAGER, RESIDENT, Running

BLOCKED = "Forbidden: bot was blocked by the user"


class _Borrowed(Database):
    """The test's database lent to a command, which would otherwise dispose of it."""

    async def dispose(self) -> None:
        """Keep the engine: the stack still uses it."""


@pytest.fixture
def operator(running: Running, monkeypatch: pytest.MonkeyPatch) -> Running:
    """``wolaiban`` commands run on the running stack's database."""
    db = running.ctx.db
    lent = _Borrowed(db.url, db.engine, db._writer, db._reader)
    monkeypatch.setattr(
        commands.app, "build_context", lambda _settings: ServiceContext(channels=BOOK, db=lent)
    )
    return running


async def wolaiban(run: Running, *argv: str) -> commands.Result:
    """One ``wolaiban`` command, as ``bot.cli`` runs it, with the stack's settings."""
    args = build_parser().parse_args(argv)
    return await commands.HANDLERS[args.command](args, commands.Env(run.settings))


async def test_a_restart_mid_report_resumes_where_the_resident_was(running: Running) -> None:
    tg = running.telegram
    ask = await running.say(RESIDENT, "/report")
    ask = await running.press(RESIDENT, ask, ask.button_data()[0])
    ask = await running.say(RESIDENT, "173号楼北门")
    assert ask.text.startswith("请描述遇到的问题")
    await running.stop()
    [draft] = await running.drafts()  # the conversation is in the database, not in the process
    assert (draft.person_id, draft.step) == ("r-jzsj-172", "description")
    # the resident answers while the bot is down; the new process takes it up
    seen = len(tg.inbox(RESIDENT))
    await tg.user_says(RESIDENT, "快递柜旁边堆满了纸箱")
    await running.start()
    ask = await running.next_message(RESIDENT, seen)
    assert ask.text.startswith("如有照片可以发送")
    confirm = await running.press(RESIDENT, ask, ask.button_data()[0])
    # and once more, between two questions
    await running.stop()
    await running.start()
    received = await running.press(RESIDENT, confirm, confirm.button_data()[0])
    assert received.text.startswith("已收到您的诉求 #1（快递堆放占道，嘉州水郡南区社区）")
    [case] = await running.cases()
    assert (case.location, case.description) == ("173号楼北门", "快递柜旁边堆满了纸箱")
    assert await running.drafts() == []
    card = await running.next_message(MANAGER, 0)
    assert "快递柜旁边堆满了纸箱" in card.text


async def test_a_replayed_update_does_nothing(running: Running) -> None:
    tg = running.telegram
    await running.says(RESIDENT, "/start", answers=2)
    start = running.last_update
    number = await running.report(RESIDENT, "快递堆在路中间")
    submit = running.last_update
    card = await running.next_message(MANAGER, 0)
    seen = len(tg.inbox(RESIDENT))
    ack = await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.next_message(RESIDENT, seen)
    answer = await running.say(RESIDENT, "快递车还在")  # free text, no question: not understood
    assert answer.text.startswith("没看懂这条消息")
    text = running.last_update
    refused = await running.say(MANAGER, "/case 99")  # refused: told why
    assert refused.text == "没有找到诉求 #99。"
    lookup = running.last_update
    outbox = len(await running.outbox())
    resident, manager = len(tg.inbox(RESIDENT)), len(tg.inbox(MANAGER))
    # Telegram delivers each again (as after a timeout): the bot has done all of it already.
    for update_id in (start, submit, ack, text, lookup):
        await tg.replay(update_id)
    await running.nothing_more(RESIDENT)
    await running.nothing_more(MANAGER)
    assert len(tg.inbox(RESIDENT)) == resident + 1  # the /help asked for, nothing else
    assert len(tg.inbox(MANAGER)) == manager + 1
    assert [c.number for c in await running.cases()] == [number]
    assert await running.events(number) == ["reported", "routed", "acknowledged"]
    assert len(await running.outbox()) == outbox + 2  # the two /help answers


async def test_a_resident_who_blocked_the_bot(operator: Running) -> None:
    running, tg = operator, operator.telegram
    number = await running.report(RESIDENT, "快递堆在路中间")
    card = await running.next_message(MANAGER, 0)
    tg.blocked.add(RESIDENT)
    seen = len(tg.inbox(RESIDENT))
    await tg.user_presses(MANAGER, card, f"ack:{number}")

    async def given_up() -> bool:
        dead = await outbox_messages(running.ctx, dead=True)
        return any(m.template == "case.acknowledged" for m in dead)

    await running.eventually(given_up)
    rows = await running.outbox()
    told = next(r for r in rows if r.template == "case.acknowledged" and r.channel == "telegram")
    assert (told.status, told.last_error) == ("dead", BLOCKED)
    identity = await running.identity("r-jzsj-172")
    assert identity is not None
    assert not identity.reachable
    sms = [r for r in rows if r.channel == "sms"]
    assert [(r.template, r.address, r.status) for r in sms] == [
        ("case.acknowledged", "+8613900000001", "pending")
    ]
    assert sms[0].text == told.text
    listed = await wolaiban(running, "outbox", "--dead")
    assert listed.code == 0
    line = next(li for li in listed.text.splitlines() if "case.acknowledged" in li)
    assert str(RESIDENT) in line
    assert BLOCKED in line
    # while unreachable, the next news goes by SMS straight away
    await tg.user_presses(MANAGER, card, f"done:{number}")

    async def settled() -> bool:
        rows = await running.outbox()
        return any(r.template == "case.resolved" for r in rows) and all(
            r.status in ("sent", "dead") for r in rows if r.channel == "telegram"
        )

    await running.eventually(settled)
    rows = await running.outbox()
    assert [r.channel for r in rows if r.template == "case.resolved"] == ["sms"]
    assert len(tg.inbox(RESIDENT)) == seen
    # once they unblock and write, Telegram is theirs again
    tg.blocked.discard(RESIDENT)
    listing = await running.say(RESIDENT, "/mycases")
    assert listing.text.startswith("您的诉求：")
    identity = await running.identity("r-jzsj-172")
    assert identity is not None
    assert identity.reachable
