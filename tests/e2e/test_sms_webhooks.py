"""Twilio's webhooks on the real stack: signatures behind a proxy, retries, strangers, managers."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlmodel import func, select
from twilio.request_validator import RequestValidator

from core.texts import render
from db.engine import Database
from db.models import Case
from sandbox.harness import FROM_NUMBER
from sandbox.twilio import new_sid
from tests.e2e.sms_stack import (
    LI_DAYE,
    MANAGER_PHONE,
    YUANXIANG_NUMBER,
    case,
    cases,
    events,
    outbox_to,
    settled,
    sms_stack,
    snapshot,
    text,
)

# twilio's async client still passes aiohttp a BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

PUBLIC = "https://wolaiban.example.org"
RESIDENT = "+8613900000003"  # 吕先生, r-yuanxiang-5
FORGER = "+8613900000088"
BENCH = "5号楼和6号楼之间的长椅坏了，老人没地方坐"
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _inbound(sid: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "From": FORGER,
        "To": YUANXIANG_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


def _status(sid: str, status: str) -> dict[str, str]:
    # Were it taken, it would show: an error code is written down whatever the order.
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "ErrorCode": "30003",
    }


async def test_only_requests_signed_for_the_public_url_are_taken(db: Database) -> None:
    # PUBLIC_URL written with ":443", a path or a trailing slash: tests/sms/test_signatures.py.
    async with sms_stack(db, public_url=PUBLIC) as run:
        loopback = f"http://127.0.0.1:{run.stack.port}"
        # Twilio signs for the public URL while the proxy hands the request to the loopback port.
        first = await text(run, RESIDENT, YUANXIANG_NUMBER, BENCH, public=PUBLIC)
        assert first.status_code == 200
        assert "#1" in first.messages[0]
        # Twilio may or may not write :443 in the URL it signs: both are the public URL.
        second = await text(
            run, RESIDENT, YUANXIANG_NUMBER, "5号楼门口垃圾桶满了", public=f"{PUBLIC}:443"
        )
        assert second.status_code == 200
        assert "#2" in second.messages[0]
        # The manager's SMS carry a StatusCallback on the public URL; the reports come back.
        await run.until(lambda: len(run.twilio.inbox(MANAGER_PHONE)) == 2)
        await settled(run)
        cards = {m.sid for m in run.twilio.inbox(MANAGER_PHONE)}
        reports = [(url, code) for url, p, code in run.twilio.callbacks if p["MessageSid"] in cards]
        assert reports == [(f"{PUBLIC}/twilio/status", 204)] * 6
        sent = await outbox_to(db, MANAGER_PHONE)
        assert [row.delivery_status for row in sent] == ["delivered", "delivered"]
        sid = run.twilio.inbox(MANAGER_PHONE)[0].sid

        validator = RequestValidator(run.twilio.auth_token)
        forger = RequestValidator("f" * 32)
        sms_url, status_url = f"{PUBLIC}/twilio/sms", f"{PUBLIC}/twilio/status"
        tampered = _inbound(new_sid("SM"), "楼道灯坏了")
        tampered_signature = validator.compute_signature(sms_url, tampered)
        tampered["Body"] = "A1"
        report = _inbound(new_sid("SM"), "楼道灯坏了")
        failed = _status(sid, "undelivered")
        forged: list[tuple[str, dict[str, str], str | None]] = [
            ("/twilio/sms", report, None),
            ("/twilio/sms", report, ""),
            ("/twilio/sms", report, forger.compute_signature(sms_url, report)),
            ("/twilio/sms", tampered, tampered_signature),
            ("/twilio/sms", report, validator.compute_signature(f"{loopback}/twilio/sms", report)),
            ("/twilio/sms", report, validator.compute_signature(status_url, report)),
            (
                "/twilio/sms",
                report,
                validator.compute_signature(sms_url.replace("https", "http"), report),
            ),
            ("/twilio/status", failed, None),
            ("/twilio/status", failed, forger.compute_signature(status_url, failed)),
            (
                "/twilio/status",
                failed,
                validator.compute_signature(f"{loopback}/twilio/status", failed),
            ),
            ("/twilio/status", failed, validator.compute_signature(sms_url, failed)),
        ]
        status_tampered = _status(sid, "undelivered")
        signature = validator.compute_signature(status_url, status_tampered)
        forged.append(("/twilio/status", {**status_tampered, "ErrorCode": "21610"}, signature))

        phones = (FORGER, RESIDENT, MANAGER_PHONE)  # who a forged request would have told
        before = await snapshot(db, phones)
        async with httpx.AsyncClient(base_url=loopback) as client:
            for path, params, signed in forged:
                headers = {} if signed is None else {"X-Twilio-Signature": signed}
                answer = await client.post(path, data=params, headers=headers)
                assert answer.status_code == 403, (path, params, signed)
        assert await snapshot(db, phones) == before
        assert len(run.twilio.inbox(MANAGER_PHONE)) == 2  # nothing acted on "A1" either


async def test_a_retried_message_is_handled_once(db: Database) -> None:
    async with sms_stack(db) as run:
        sid = new_sid("SM")
        replies = [await text(run, RESIDENT, YUANXIANG_NUMBER, BENCH, sid=sid) for _ in range(3)]
        assert [r.status_code for r in replies] == [200, 200, 200]
        assert len(replies[0].messages) == 1
        assert "#1" in replies[0].messages[0]
        assert replies[1].body == replies[2].body == replies[0].body
        # Retries racing each other (Twilio retried while the first was still being handled).
        racing = new_sid("SM")
        raced = await asyncio.gather(
            *(text(run, RESIDENT, YUANXIANG_NUMBER, "5号楼电梯坏了", sid=racing) for _ in range(3))
        )
        assert {r.status_code for r in raced} == {200}
        assert {tuple(r.messages) for r in raced} == {(raced[0].messages[0],)}
        assert "#2" in raced[0].messages[0]

        await run.until(lambda: len(run.twilio.inbox(MANAGER_PHONE)) >= 2)
        await run.twilio.settle()
        assert len(run.twilio.inbox(MANAGER_PHONE)) == 2  # one card per case
        assert len(run.twilio.inbox(RESIDENT)) == 6  # the six TwiML answers, no other SMS
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(Case))).one() == 2
    assert await events(db) == ["reported", "routed"] * 2


def _choice(reply: str, community: str) -> str:
    """The number the ask-community list gives ``community``."""
    found = re.search(rf"^(\d+) {re.escape(community)}$", reply, re.M)
    assert found, reply
    return found.group(1)


async def test_a_stranger_is_asked_which_community(db: Database) -> None:
    stranger, visitor, anna = "+8613700000001", "+8613700000002", "+8613700000003"
    async with sms_stack(db) as run:
        asked = await text(run, stranger, FROM_NUMBER, "小区北门的路灯坏了好几天了")
        assert asked.messages[0].startswith("请回复您所在社区的序号")
        picked = await text(
            run, stranger, FROM_NUMBER, _choice(asked.messages[0], "碧桂园北区社区")
        )
        assert picked.messages == [
            render("zh", "case.received", number=1, category="设施损坏", community="碧桂园北区社区")
        ]
        opened = await case(db, 1)
        assert (opened.community_id, opened.description) == (
            "bgy-north",
            "小区北门的路灯坏了好几天了",
        )
        await run.until(lambda: any("#1" in m.text for m in run.telegram.inbox(2002)))

        asked = await text(run, visitor, FROM_NUMBER, "楼下有人乱停车")
        number = _choice(asked.messages[0], "原香小镇社区")
        picked = await text(run, visitor, FROM_NUMBER, number.translate(_FULL_WIDTH))
        assert picked.messages[0].startswith("已收到您的诉求 #2（停车问题，原香小镇社区）")

        asked = await text(run, anna, FROM_NUMBER, "Dog waste all over the lawn")
        assert asked.messages[0].startswith("Reply with the number of your community")
        picked = await text(run, anna, FROM_NUMBER, _choice(asked.messages[0], "Yunwan Homes"))
        assert picked.messages[0].startswith("We received your report #3")

        # Where does it stand: the latest by default, or the one named; only one's own.
        assert (await text(run, stranger, FROM_NUMBER, "查询")).messages == [
            "诉求 #1（设施损坏）：已派单。"
        ]
        assert (await text(run, visitor, FROM_NUMBER, "【查询 #2】")).messages == [
            "诉求 #2（停车问题）：已派单。"
        ]
        assert (await text(run, anna, FROM_NUMBER, "STATUS #3")).messages == [
            "Case #3 (Other): assigned."
        ]
        assert (await text(run, anna, FROM_NUMBER, "status #1")).messages == [
            render("en", "sms.no_case")
        ]
    assert [c.community_id for c in await cases(db)] == ["bgy-north", "yuanxiang", "yunwan"]


async def test_a_manager_without_telegram_works_by_reply_codes(db: Database) -> None:
    stranger = "+8613700000009"
    async with sms_stack(db) as run:
        for body in (BENCH, "5号楼楼道灯坏了", "6号楼门口垃圾没人清"):
            await text(run, RESIDENT, YUANXIANG_NUMBER, body)
        await run.until(lambda: len(run.twilio.inbox(MANAGER_PHONE)) == 3)
        cards = run.twilio.inbox(MANAGER_PHONE)
        for n, card in enumerate(cards, 1):
            assert card.from_ == FROM_NUMBER
            assert f"#{n}" in card.body
            assert f"回复 A{n} 接单，D{n} 办好" in card.body

        # The code from anyone but the case's manager is refused, and changes nothing.
        phones = (LI_DAYE, stranger, RESIDENT, MANAGER_PHONE)
        before = await snapshot(db, phones)
        refused = await text(run, LI_DAYE, FROM_NUMBER, "A1")
        assert refused.messages == [render("zh", "refused.not_entitled")]
        refused = await text(run, stranger, FROM_NUMBER, "d1")
        assert refused.messages == [render("en", "refused.not_entitled")]
        after = await snapshot(db, phones)
        for table in ("Case", "CaseEvent", "OptOut"):
            assert after[table] == before[table]

        for code, n in (("a 1", 1), ("Ａ２", 2), ("A3", 3)):
            answer = await text(run, MANAGER_PHONE, FROM_NUMBER, code)
            assert answer.messages == [f"好的，诉求 #{n} 现为「处理中」。"]
            assert (await case(db, n)).status == "acknowledged"
        answer = await text(run, MANAGER_PHONE, FROM_NUMBER, "D1")
        assert answer.messages == ["好的，诉求 #1 现为「待评价」。"]
        await run.until(lambda: any("回复 1 满意" in m.body for m in run.twilio.inbox(RESIDENT)))
        told = [m.body for m in run.twilio.inbox(RESIDENT) if m.direction == "outbound-api"]
        await run.twilio.settle()
    assert (await case(db, 1)).status == "resolved"
    assert await events(db, 1) == ["reported", "routed", "acknowledged", "resolved"]
    assert sum("已有负责人接单" in body for body in told) == 3
