"""Texting the bot without the HTTP server: ``handle_sms`` on the example directory and a clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.services.unit.context import ServiceContext
from bot.sms.handler import InboundSms, handle_sms
from sandbox.twilio import new_sid
from tests.conftest import Clock

Texter = Callable[..., Awaitable[list[str]]]
YUANXIANG_NUMBER = "+8610690000003"  # the example's yuanxiang community


@pytest.fixture
def texts(loaded: ServiceContext, clock: Clock) -> Texter:
    """``await texts(phone, body, to=…, sid=…)``: the TwiML answers; the clock moves a second."""

    async def send(
        phone: str, body: str, *, to: str = YUANXIANG_NUMBER, sid: str | None = None
    ) -> list[str]:
        clock.advance(seconds=1)
        return await handle_sms(loaded, InboundSms(sid or new_sid("SM"), phone, to, body))

    return send
