"""The customer-service sender against the WeCom emulator: inside the window a message goes (a
menu when it has buttons); outside it nothing is attempted; WeCom's refusals become outcomes —
95001 closes the window, 45009 pauses, a busy WeCom is tried again and costs no place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Transient
from bot.delivery.results import UntilTheyWrite
from bot.services.unit.context import ServiceContext
from bot.wecom.kf import window
from bot.wecom.kf.sender import KfSender, Welcomes
from core.buttons import Button
from sandbox.wecom import WeComEmulator
from tests.wecom.test_kf_pull import customer_service

KFID = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q"
USER = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"


def claimed(
    text: str = "您的诉求 #1 已有负责人接单。", buttons: list[list[Button]] | None = None
) -> Claimed:
    return Claimed(
        id=1,
        channel="wechat",
        person_id=f"wx-{USER}",
        address=USER,
        text=text,
        buttons=buttons or [],
        urgent=False,
        attempts=0,
        edit_message_id=None,
    )


@dataclass
class Sending:
    wecom: WeComEmulator
    sender: KfSender
    welcomes: Welcomes
    ctx: ServiceContext

    async def resident_wrote(self) -> None:
        """The resident wrote (to WeCom, and the bot pulled it)."""
        self.wecom.queue_text(KFID, USER, "你好")
        await window.record_inbound(self.ctx, KFID, USER, datetime.now(UTC))


@pytest.fixture
async def sending(ctx: ServiceContext) -> AsyncIterator[Sending]:
    real = ServiceContext(channels=ctx.channels, db=ctx.db, default_language="zh")
    async with customer_service(ctx.db) as (wecom, client):
        wecom.service.open_kfids.add(KFID)
        welcomes = Welcomes()
        yield Sending(wecom, KfSender(real, client, welcomes), welcomes, real)


async def test_in_the_window_a_message_with_buttons_is_a_menu(sending: Sending) -> None:
    await sending.resident_wrote()
    rate = [[Button("😊 满意", "rate:1:1", literal=True)]]
    outcome = await sending.sender.send(claimed("请您评价：", rate), silent=False)
    assert isinstance(outcome, Delivered)
    [got] = sending.wecom.kf_inbox(KFID, USER)
    assert (got.kind, got.head, got.item_ids(), got.msgid) == (
        "msgmenu",
        "请您评价：",
        ["rate:1:1"],
        outcome.provider_id,
    )


async def test_outside_the_window_nothing_is_attempted(sending: Sending) -> None:
    outcome = await sending.sender.send(claimed(), silent=False)  # they never wrote
    assert isinstance(outcome, UntilTheyWrite)
    assert not any(path == "kf/send_msg" for path, _ in sending.wecom.calls)


async def test_wecoms_refusals_become_outcomes(sending: Sending) -> None:
    await sending.resident_wrote()
    sending.wecom.fail_next(45009, path="kf/send_msg")
    assert isinstance(await sending.sender.send(claimed(), silent=False), Flooded)
    sending.wecom.fail_next(-1, path="kf/send_msg")
    assert isinstance(await sending.sender.send(claimed(), silent=False), Transient)
    # Neither cost a place: all five are still there.
    for _ in range(5):
        assert isinstance(await sending.sender.send(claimed(), silent=False), Delivered)
    assert isinstance(await sending.sender.send(claimed(), silent=False), UntilTheyWrite)
    assert len(sending.wecom.kf_inbox(KFID, USER)) == 5


async def test_95001_closes_the_window(sending: Sending) -> None:
    await sending.resident_wrote()
    sending.wecom.fail_next(95001, path="kf/send_msg")
    outcome = await sending.sender.send(claimed(), silent=False)
    assert isinstance(outcome, UntilTheyWrite)
    assert "95001" in outcome.error
    calls = len(sending.wecom.calls)
    assert isinstance(await sending.sender.send(claimed(), silent=False), UntilTheyWrite)
    assert len(sending.wecom.calls) == calls  # the next one is not attempted


async def test_a_visits_welcome_goes_with_its_code_once(sending: Sending) -> None:
    sending.wecom.service.enter_session(KFID, USER, "")
    code = next(iter(sending.wecom.service.welcome_codes))
    sending.welcomes.offer(USER, KFID, code)
    assert isinstance(await sending.sender.send(claimed("欢迎"), silent=False), Delivered)
    [welcome] = sending.wecom.kf_inbox(KFID, USER)
    assert welcome.on_event
    assert isinstance(await sending.sender.send(claimed("帮助"), silent=False), UntilTheyWrite)
