"""Webhook requests that pass the secret or the signature but are not what Telegram or Twilio
send, as the OpenAPI fuzzer found them (commit c5c6f5c): each is answered 400, nothing is written
and nobody is told anything — and the same request well-formed is taken, so the 400 is the
request's, not the stack's.

- Telegram: an update whose ``update_id`` is not a number (a string, a list, a fraction, true).
- Twilio status callbacks: a ``MessageStatus`` Twilio does not send, a ``MessageSid`` or an
  ``ErrorCode`` longer than any of Twilio's (64 and 16 characters)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel, col, select
from twilio.request_validator import RequestValidator

from db.engine import Database
from db.models import Case, CaseEvent, DeliveryReport, InboundReceipt, OptOut, OutboxMessage
from sandbox.harness import WEBHOOK_SECRET
from tests.e2e.channels import both_channels
from tests.e2e.sms_stack import MANAGER_PHONE, YUANXIANG_NUMBER, settled, sms_stack, text

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

LI_DAYE = 4001  # r-jzsj-172 in Telegram
RESIDENT = "+8613900000003"  # 吕先生, r-yuanxiang-5
WATCHED = (Case, CaseEvent, OutboxMessage, InboundReceipt, OptOut, DeliveryReport)
NOT_NUMBERS: list[Any] = ["7001", [7001], 7001.5, True, None, {"id": 7001}]


async def _rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables a webhook could write to."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with db.reading() as session:
        for model in WATCHED:
            rows: list[SQLModel] = list((await session.exec(select(model))).all())
            found[model.__name__] = sorted((r.model_dump() for r in rows), key=repr)
    return found


def _update(update_id: Any, text: str) -> dict[str, Any]:
    """李大爷's message as Telegram would post it, with ``update_id`` as given."""
    user = {"id": LI_DAYE, "is_bot": False, "first_name": "李大爷", "language_code": "zh"}
    chat = {"id": LI_DAYE, "type": "private", "first_name": "李大爷"}
    message = {"message_id": 900, "date": 1_700_000_000, "chat": chat, "from": user, "text": text}
    return {"update_id": update_id, "message": message}


async def test_an_update_whose_id_is_no_number_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    async with both_channels(db, webhook=True) as run:
        url = f"{run.public_url}/telegram/webhook"
        secret = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        before = await _rows(db)
        async with httpx.AsyncClient() as client:
            for bad in NOT_NUMBERS:
                answer = await client.post(url, json=_update(bad, "/start"), headers=secret)
                assert answer.status_code == 400, (bad, answer.status_code, answer.text)
            assert await _rows(db) == before
            assert run.telegram.inbox(LI_DAYE) == []  # nobody answered him
            # The same update with a number for its id is Telegram's: taken, and he is answered.
            taken = await client.post(url, json=_update(7001, "/start"), headers=secret)
            assert taken.status_code == 200
        await run.until(lambda: any(m.text for m in run.telegram.inbox(LI_DAYE)))


def _status(sid: str, status: str, error: str | None = None) -> dict[str, str]:
    found = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
    return found | ({"ErrorCode": error} if error is not None else {})


async def test_a_status_callback_twilio_would_not_send_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    async with sms_stack(db) as run:
        # 吕先生's report goes to 冯经理 by SMS (he has no Telegram): a message of ours, delivered.
        await text(run, RESIDENT, YUANXIANG_NUMBER, "5号楼和6号楼之间的长椅坏了")
        await run.until(lambda: len(run.twilio.inbox(MANAGER_PHONE)) > 0)
        await settled(run)
        sid = run.twilio.inbox(MANAGER_PHONE)[0].sid
        url = f"{run.public_url}/twilio/status"
        sign = RequestValidator(run.twilio.auth_token).compute_signature
        # Each would move the message on ("read") or keep a report, were it taken.
        hostile = [
            _status(sid, "exploded"),  # no status of Twilio's
            _status(sid, "READ"),
            _status("SM" + "0" * 63, "read"),  # 65 characters: longer than any id of Twilio's
            _status(sid, "read", error="3" * 17),  # longer than any error code of Twilio's
            _status(sid, "failed", error="30003" * 10),
        ]
        before = await _rows(db)
        async with httpx.AsyncClient() as client:
            for params in hostile:
                headers = {"X-Twilio-Signature": sign(url, params)}
                answer = await client.post(url, data=params, headers=headers)
                assert answer.status_code == 400, (params, answer.status_code)
            assert await _rows(db) == before
            well_formed = _status(sid, "read")
            headers = {"X-Twilio-Signature": sign(url, well_formed)}
            taken = await client.post(url, data=well_formed, headers=headers)
            assert taken.status_code == 204
        async with db.reading() as session:
            query = select(OutboxMessage.delivery_status).where(
                col(OutboxMessage.provider_message_id) == sid
            )
            assert (await session.exec(query)).all() == ["read"]
