"""How the bot meets Telegram: long polling by default, the webhook when configured (its secret
checked before anything is read, its answer only after the work is committed), the command menu
in both languages."""

from __future__ import annotations

import httpx
from sqlmodel import func, select

from db.models import Draft, InboundReceipt, OutboxMessage
from sandbox.harness import WEBHOOK_SECRET
from tests.e2e.conftest import MANAGER, RESIDENT, STRANGER, Running, labels

UPDATE = {
    "update_id": 990001,
    "message": {
        "message_id": 990001,
        "date": 1700000000,
        "chat": {"id": RESIDENT, "type": "private", "first_name": "李大爷"},
        "from": {"id": RESIDENT, "is_bot": False, "first_name": "李大爷", "language_code": "zh"},
        "text": "/report",
        "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
    },
}


async def _count(run: Running, model: type[InboundReceipt | Draft | OutboxMessage]) -> int:
    async with run.ctx.db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_long_polling_by_default_and_the_command_menu(running: Running) -> None:
    tg = running.telegram
    assert running.settings.telegram_webhook_url is None
    welcome, help_ = await running.says(STRANGER, "/start", answers=2)
    assert "新用户" in welcome.text
    assert "/report" in help_.text
    assert tg.webhook is None  # updates were fetched with getUpdates
    assert running.stack.telegram is not None
    assert running.stack.telegram.updater is not None
    assert running.stack.telegram.updater.running
    # the menu in the default language for everyone, and in English for English apps
    assert set(tg.commands) == {"", "en"}
    zh = {c["command"]: c["description"] for c in tg.commands[""]}
    en = {c["command"]: c["description"] for c in tg.commands["en"]}
    wanted = {
        "start",
        "report",
        "mycases",
        "cancel",
        "lang",
        "help",
        "open",
        "case",
        "digest",
        "web",
    }
    assert set(zh) == set(en) == wanted
    assert zh["report"] == "反映问题"
    assert en["report"] == "Report a problem"
    assert en["mycases"] == "My reports"
    assert zh["web"].startswith("工作台登录链接")


async def test_webhook_mode_answers_after_the_work_is_committed(hooked: Running) -> None:
    tg = hooked.telegram
    assert tg.webhook is not None
    assert tg.webhook["url"] == hooked.settings.telegram_webhook_url
    assert tg.webhook["secret_token"] == WEBHOOK_SECRET
    assert hooked.stack.telegram is not None
    assert hooked.stack.telegram.updater is None  # nothing polls
    # The emulator waits for the webhook's answer: once it has it, the step is in the database.
    await tg.user_says(RESIDENT, "/report")
    drafts = await hooked.drafts()
    assert [(d.person_id, d.step) for d in drafts] == [("r-jzsj-172", "category")]
    assert [m.template for m in await hooked.outbox()] == ["flow.ask_category"]
    ask = await hooked.next_message(RESIDENT, 0)
    assert "快递堆放占道" in labels(ask)
    # and a whole report, then the manager's button, go through the webhook just the same
    assert "已取消" in (await hooked.say(RESIDENT, "/cancel")).text
    number = await hooked.report(RESIDENT, "快递堆在路中间")
    card = await hooked.next_message(MANAGER, 0)
    assert card.button_data() == [f"ack:{number}", f"done:{number}", f"decline:{number}"]
    seen = len(tg.inbox(RESIDENT))
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    assert (await hooked.case(number)).status == "acknowledged"  # committed before the answer
    told = await hooked.next_message(RESIDENT, seen)
    assert f"#{number}" in told.text
    assert "接单" in told.text


async def test_webhook_secret_is_checked_before_the_body(hooked: Running) -> None:
    url = hooked.settings.telegram_webhook_url
    assert url is not None
    header = "X-Telegram-Bot-Api-Secret-Token"
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=UPDATE)
        wrong = await client.post(url, json=UPDATE, headers={header: "not-the-secret"})
        # a wrong secret with a body that is not even JSON: refused for the secret, unread
        unread = await client.post(url, content=b"{not json", headers={header: "x"})
        # the right secret with that body: only now is the body read (and found wanting)
        garbage = await client.post(url, content=b"{not json", headers={header: WEBHOOK_SECRET})
    assert [missing.status_code, wrong.status_code, unread.status_code] == [403, 403, 403]
    assert garbage.status_code == 400
    for model in (InboundReceipt, Draft, OutboxMessage):
        assert await _count(hooked, model) == 0, model.__name__
    assert hooked.telegram.inbox(RESIDENT) == []
    # the same update with the secret is handled
    async with httpx.AsyncClient() as client:
        accepted = await client.post(url, json=UPDATE, headers={header: WEBHOOK_SECRET})
    assert accepted.status_code == 200
    assert await _count(hooked, InboundReceipt) == 1
    ask = await hooked.next_message(RESIDENT, 0)
    assert "类别" in ask.text


async def test_webhook_waits_for_telegram_to_be_running(hooked: Running) -> None:
    # While the process starts (the server listens before PTB runs) or stops, an update gets a
    # 503 — Telegram posts it again — and nothing of it is recorded.
    url = hooked.settings.telegram_webhook_url
    app = hooked.stack.telegram
    assert url is not None
    assert app is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    await app.stop()
    async with httpx.AsyncClient() as client:
        early = await client.post(url, json=UPDATE, headers=headers)
        forged = await client.post(url, json=UPDATE)
    assert (early.status_code, early.headers.get("retry-after")) == (503, "1")
    assert forged.status_code == 403  # the secret is still checked first
    assert await _count(hooked, InboundReceipt) == 0
    await app.start()
    async with httpx.AsyncClient() as client:
        again = await client.post(url, json=UPDATE, headers=headers)
    assert again.status_code == 200
    assert await _count(hooked, InboundReceipt) == 1
    assert "类别" in (await hooked.next_message(RESIDENT, 0)).text


async def test_webhook_replay_does_nothing(hooked: Running) -> None:
    tg = hooked.telegram
    number = await hooked.report(RESIDENT, "垃圾桶满了")
    submitted = hooked.last_update  # the press that submitted the report
    before = len(tg.inbox(RESIDENT))
    await tg.replay(submitted)  # Telegram did not hear our answer and posts it again
    assert [c.number for c in await hooked.cases()] == [number]
    await hooked.nothing_more(RESIDENT)
    assert len(tg.inbox(RESIDENT)) == before + 1  # only the answer to /help
    assert len(tg.inbox(MANAGER)) == 1
