"""A case filed through Open311 with a phone, against the running stack (`wolaiban run`'s, on the
Telegram and Twilio emulators): the resident is told by SMS, the manager acknowledges and
resolves on Telegram, the resident rates by SMS — and the client follows it from open to closed
with status_notes."""

from __future__ import annotations

from typing import Any

import httpx
from defusedxml import ElementTree
from sqlmodel import col, select

from bot.open311 import keys
from db.engine import Database
from db.models import Case, CaseEvent
from tests.e2e.channels import both_channels

RESIDENT = "+8613900000088"  # nobody the directory knows
COMMUNITY_NUMBER = "+8610690000001"  # jzsj-south's SMS number
MANAGER = 2001  # mgr-jzsj-south on Telegram


def _request(xml: bytes) -> dict[str, Any]:
    """The one request of a GET requests/{id}.xml answer, element by element."""
    root = ElementTree.fromstring(xml)
    assert root.tag == "service_requests"
    (request,) = list(root)
    assert request.tag == "request"
    return {child.tag: child.text for child in request}


async def test_filed_by_open311_followed_to_closed(db: Database) -> None:
    async with both_channels(db) as run:
        key = await keys.create_key(run.ctx, name="beijing-12345", communities=["jzsj-south"])
        base = f"{run.public_url}/open311/v2"
        async with httpx.AsyncClient(timeout=10) as http:
            posted = await http.post(
                f"{base}/requests.json",
                data={
                    "api_key": key,
                    "service_code": "parcels",
                    "address_string": "172号楼东门",
                    "description": "172号楼东门快递堆放占道，老人轮椅过不去",
                    "phone": RESIDENT,
                    "first_name": "先生",
                    "last_name": "周",
                },
            )
            assert posted.status_code == 200, posted.text
            number = posted.json()[0]["service_request_id"]
            follow = f"{base}/requests/{number}.xml"

            async def state() -> dict[str, Any]:
                response = await http.get(follow, params={"api_key": key})
                assert response.status_code == 200, response.text
                return _request(response.content)

            # The resident hears of the case by SMS; the manager gets the card on Telegram.
            tg, phone = run.telegram, run.twilio
            await run.until(lambda: any(f"#{number}" in m.body for m in phone.inbox(RESIDENT)))
            await run.until(lambda: len(tg.inbox(MANAGER)) == 1)
            card = tg.inbox(MANAGER)[0]
            assert "172号楼东门快递堆放占道" in card.text
            first = await state()
            assert (first["status"], first["status_notes"]) == ("open", "派单")

            await tg.user_presses(MANAGER, card, f"ack:{number}")
            await run.until(lambda: any("接单" in m.body for m in phone.inbox(RESIDENT)))
            acknowledged = await state()
            assert (acknowledged["status"], acknowledged["status_notes"]) == ("open", "接单")

            await tg.user_presses(MANAGER, card, f"done:{number}")
            await run.until(lambda: any("回复 1 满意" in m.body for m in phone.inbox(RESIDENT)))
            resolved = await state()
            assert (resolved["status"], resolved["status_notes"]) == ("open", "办好")

            reply = await run.text(RESIDENT, COMMUNITY_NUMBER, "1")
            assert any("已办结" in m for m in reply.messages)
            closed = await state()
            assert (closed["status"], closed["status_notes"]) == ("closed", "评价；评价：满意")
            assert closed["agency_responsible"] == "嘉州水郡南区社区物业负责人"
            assert closed["updated_datetime"].endswith("+08:00")
            body = (await http.get(follow, params={"api_key": key})).text
            assert RESIDENT[3:] not in body
            assert "周先生" not in body
            assert "王经理" not in body

    async with db.reading() as session:
        case = await session.get(Case, int(number))
        events = (
            await session.exec(
                select(CaseEvent)
                .where(CaseEvent.case_number == int(number))
                .order_by(col(CaseEvent.id))
            )
        ).all()
    assert case is not None
    assert (case.channel, case.status, case.rating) == ("open311", "closed", "satisfied")
    assert [(e.kind, e.channel) for e in events] == [
        ("reported", "open311"),
        ("routed", "system"),
        ("acknowledged", "telegram"),
        ("resolved", "telegram"),
        ("rated", "sms"),
    ]
    assert events[0].note == "beijing-12345"
