"""An Open311 ``phone`` is contact data, not identity: a number someone holds — staff, a manager,
a supervisor, a resident of this community or another, a resident met by SMS, another key's —
never makes the filer that person, is never taken from them, and answers the same as a number
nobody holds; a number nobody holds becomes the key's own resident's; and a key's POSTs never use
up a real resident's cases-per-10-minutes limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from bot.sms.handler import InboundSms, handle_sms
from core.texts import render as say
from db.models import Case, CaseEvent, Identity, OutboxMessage, Person
from sandbox.twilio import new_sid
from tests.conftest import Clock
from tests.open311.conftest import Client, error_of, open311_client

FORM = {
    "service_code": "parcels",
    "jurisdiction_id": "jzsj-south",
    "address_string": "172号楼门口",
    "description": "快递堆在172号楼门口占道",
}
FREE = "+8613900000071"  # nobody the example directory knows
YUANXIANG_NUMBER = "+8610690000003"  # a text to it is a report in yuanxiang

# Numbers the example directory gives its people (examples/changyang.yaml).
HOLDERS = [
    pytest.param("liubo", "+8613800000001", id="staff"),
    pytest.param("mgr-jzsj-south", "+8613800000011", id="this community's manager"),
    pytest.param("mgr-yuanxiang", "+8613800000013", id="another community's manager"),
    pytest.param("sup-jzsj-south", "+8613800000021", id="supervisor"),
    pytest.param("r-jzsj-172", "+8613900000001", id="a resident of this community"),
    pytest.param("r-bgy-72", "+8613900000002", id="another community's resident"),
]


@pytest.fixture
async def client(loaded: ServiceContext, clock: Clock) -> AsyncIterator[Client]:
    """A JSON client with a key for every community, the example directory loaded."""
    async with open311_client(loaded, clock, "json") as made:
        yield made


async def _rows(ctx: ServiceContext, model: Any, *where: Any) -> list[Any]:
    async with ctx.db.reading() as session:
        return list((await session.exec(select(model).where(*where))).all())


async def _case(ctx: ServiceContext, number: int) -> Case:
    (case,) = await _rows(ctx, Case, Case.number == number)
    return case


async def _sms(ctx: ServiceContext, clock: Clock, phone: str, body: str) -> list[str]:
    """``phone`` texts yuanxiang's number; the answers."""
    clock.advance(seconds=1)
    return await handle_sms(ctx, InboundSms(new_sid("SM"), phone, YUANXIANG_NUMBER, body))


async def _identities(ctx: ServiceContext, phone: str) -> list[tuple[str, bool]]:
    rows = await _rows(ctx, Identity, Identity.channel == "sms", Identity.address == phone)
    return [(i.person_id, i.reachable) for i in rows]


@pytest.mark.parametrize(("holder", "phone"), HOLDERS)
async def test_a_held_number_never_makes_the_filer_its_holder(
    client: Client, holder: str, phone: str
) -> None:
    ctx = client.ctx
    before = await _identities(ctx, phone)
    assert before == [(holder, True)]
    number = await client.file(phone=phone)

    case = await _case(ctx, number)
    assert case.resident_id != holder
    (filer,) = await _rows(ctx, Person, Person.id == case.resident_id)
    assert (filer.role, filer.source, filer.active) == ("resident", "open311", True)
    # The filer is named as the key's client, not by the number (nor the holder's name).
    assert filer.name == say("zh", "open311.resident", client="city-12345")
    # The number stays its holder's, reachable; the filer gets no address at all.
    assert await _identities(ctx, phone) == before
    assert await _rows(ctx, Identity, Identity.person_id == filer.id) == []
    assert await _rows(ctx, Case, Case.resident_id == holder) == []
    # Nothing about this case goes to the number (its holder has no part in a jzsj-south case
    # on SMS: this community's manager and supervisor are reached on Telegram).
    to_number = await _rows(
        ctx, OutboxMessage, OutboxMessage.case_number == number, OutboxMessage.address == phone
    )
    assert [(m.person_id, m.template) for m in to_number] == []
    # The phone is kept as the filer's contact, in the audit trail.
    (reported,) = await _rows(
        ctx, CaseEvent, CaseEvent.case_number == number, CaseEvent.kind == "reported"
    )
    assert (reported.data["api_key"], reported.data["contact_phone"]) == ("city-12345", phone)


async def test_a_held_number_answers_as_a_free_one_would(client: Client) -> None:
    # A key cannot tell from the answer whether a number belongs to staff.
    status_held, held = await client.post(**FORM, phone="+8613800000011")
    status_free, free = await client.post(**FORM, phone=FREE)
    assert status_held == status_free == 200
    assert held[0]["service_request_id"] != free[0]["service_request_id"]
    assert {k: v for k, v in held[0].items() if k != "service_request_id"} == {
        k: v for k, v in free[0].items() if k != "service_request_id"
    }


async def test_a_held_number_with_an_account_files_for_the_keys_account_resident(
    client: Client,
) -> None:
    first = await client.file(phone="+8613800000001", account_id="u-7", first_name="七")
    second = await client.file(account_id="u-7")
    resident = (await _case(client.ctx, first)).resident_id
    assert (await _case(client.ctx, second)).resident_id == resident
    assert resident != "liubo"
    assert await _identities(client.ctx, "+8613800000001") == [("liubo", True)]


async def test_a_free_number_becomes_the_keys_own_residents(client: Client) -> None:
    ctx = client.ctx
    first = await client.file(phone=FREE)
    second = await client.file(phone="139 0000 0071")
    resident = (await _case(ctx, first)).resident_id
    assert (await _case(ctx, second)).resident_id == resident
    assert await _identities(ctx, FREE) == [(resident, True)]
    told = await _rows(ctx, OutboxMessage, OutboxMessage.case_number == first)
    assert [m.channel for m in told if m.person_id == resident] == ["sms"]

    # Another key's filing with the same number: the number is the first key's resident's now.
    other = await keys.create_key(ctx, name="other-app", communities=[])
    status, body = await client.post(**FORM, phone=FREE, api_key=other)
    assert status == 200, body
    theirs = await _case(ctx, int(body[0]["service_request_id"]))
    assert theirs.resident_id != resident
    assert await _identities(ctx, FREE) == [(resident, True)]


async def test_a_keys_posts_never_use_up_a_residents_own_case_limit(
    client: Client, clock: Clock
) -> None:
    ctx, phone = client.ctx, "+8613900000072"
    # A resident met by SMS reports once; the key then files five times with their number.
    await _sms(ctx, clock, phone, "5号楼电梯坏了")
    (person_id, _), *_ = await _identities(ctx, phone)
    for _ in range(5):
        number = await client.file(phone=phone)
        assert (await _case(ctx, number)).resident_id != person_id
    # The resident still has the rest of their own five cases...
    for i in range(4):
        answers = await _sms(ctx, clock, phone, f"5号楼门口垃圾没人收 {i}")
        assert say("zh", "limits.slow_down") not in answers
    theirs = await _rows(ctx, Case, Case.resident_id == person_id)
    assert len(theirs) == 5
    # ...and the limit still holds them at five.
    answers = await _sms(ctx, clock, phone, "又一件")
    assert say("zh", "limits.slow_down") in answers
    assert len(await _rows(ctx, Case, Case.resident_id == person_id)) == 5


async def test_a_number_that_wrote_in_itself_is_no_longer_the_keys_to_give(
    client: Client, clock: Clock
) -> None:
    ctx = client.ctx
    first = await client.file(phone=FREE)
    resident = (await _case(ctx, first)).resident_id
    # The person at the number texts us: the key's resident is now theirs to speak for.
    await _sms(ctx, clock, FREE, "STATUS")
    assert await _identities(ctx, FREE) == [(resident, True)]
    for _ in range(5):
        later = await client.file(phone=FREE)
        assert (await _case(ctx, later)).resident_id != resident
    assert len(await _rows(ctx, Case, Case.resident_id == resident)) == 1


async def test_the_keys_own_resident_is_still_held_to_the_case_limit(client: Client) -> None:
    for _ in range(5):
        await client.file(phone=FREE)
    status, body = await client.post(**FORM, phone=FREE)
    assert status == 429
    assert error_of(body)[0] == "429"
    numbers = await _rows(ctx := client.ctx, Case, col(Case.channel) == "open311")
    assert len(numbers) == 5
    assert await _identities(ctx, FREE) != []
