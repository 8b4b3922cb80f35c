"""Hostile text through the real webhooks (issue 12, part 3): NUL, terminal escapes, bidi
overrides, zero-width characters, an over-long text, emoji only, a rating for a case that does
not exist or is someone else's — each answered clearly, nothing unsafe stored, never a 500.
And the building an SMS names becomes the case's location (part 5)."""

from __future__ import annotations

import unicodedata

import pytest

from core.clean import MAX_DESCRIPTION
from core.texts import render
from db.engine import Database
from tests.e2e.conftest import Running
from tests.e2e.sms_stack import YUANXIANG_NUMBER, case, cases, settled, sms_stack, text

pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

BGY_NORTH_NUMBER = "+8610690000002"  # bgy-north lists building 72
RESIDENT = "+8613900000003"  # 吕先生, r-yuanxiang-5
CUT = render("zh", "report.description_cut", limit=MAX_DESCRIPTION)
REASK_TEXT = "请点击下面的按钮作答"
BIDI = {chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


def safe(stored: str) -> bool:
    """No control character but newline and tab, no bidi control, no zero-width character."""
    for ch in stored:
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t":
            return False
        if ch in BIDI or ch in "\u200b\u200c\u200d\u2060\ufeff":
            return False
    return True


async def test_hostile_sms_are_cleaned_or_refused_never_a_500(db: Database) -> None:
    async with sms_stack(db) as run:
        phones = iter(f"+86139100000{n:02d}" for n in range(50))

        async def sms(body: str, to: str = YUANXIANG_NUMBER, phone: str | None = None) -> str:
            reply = await text(run, phone or next(phones), to, body)
            assert reply.status_code == 200
            return "\n".join(reply.messages)

        # NUL, SOH and a terminal escape: a case, without them
        assert "#1" in await sms("3号楼\x00\x01\x1b[31m门口垃圾桶满了")
        # a right-to-left override first: a case that reads the right way round
        assert "#2" in await sms("\u202e5号楼门口垃圾桶满了")
        # zero-width characters inside the words (the building is still found)
        assert "#3" in await sms("5\u200b号楼\ufeff门\u2060口\u200c的灯坏了")
        # 1,600 characters (the most Twilio joins into one message): cut, and the resident is told
        long = await sms("楼道里堆满了杂物" * 200)
        assert "#4" in long
        assert CUT in long
        # nothing left once cleaned, or only emoji: not a report, they are asked what happened
        # (a stranger writing no Chinese is answered in English)
        assert await sms("\x00\x1b\u202e\u200b") == render("en", "refused.empty_description")
        assert await sms("🙂🙂🙂") == render("en", "refused.empty_description")
        # a rating for a case that does not exist: answered, nothing created
        missing = await sms("#99999999999999999999 3", phone=RESIDENT)
        assert missing == render("zh", "refused.no_case_of_yours", number=99999999999999999999)
        # someone else's case is answered the same way: nothing tells it exists
        assert await sms("#1 1", phone=RESIDENT) == render(
            "zh", "refused.no_case_of_yours", number=1
        )
        assert "#" not in await sms("查询 #99999999999999999999", phone=RESIDENT)
        await settled(run)
        stored = await cases(db)
        assert [c.number for c in stored] == [1, 2, 3, 4]
        assert all(safe(c.description) and safe(c.location) for c in stored)
        assert stored[0].description == "3号楼[31m门口垃圾桶满了"
        assert stored[1].description == "5号楼门口垃圾桶满了"
        assert (stored[2].description, stored[2].location) == ("5号楼门口的灯坏了", "5号楼门口")
        assert len(stored[3].description) == MAX_DESCRIPTION
        assert (await case(db, 1)).status == "assigned"  # the stranger's rating changed nothing


async def test_an_sms_naming_a_building_has_it_as_the_location(db: Database) -> None:
    async with sms_stack(db) as run:
        body = "72号楼后侧建筑垃圾存放处清理不及时，还有人乱扔垃圾。"
        reply = await text(run, "+8613910000099", BGY_NORTH_NUMBER, body)
        assert reply.status_code == 200
        bench = await text(run, RESIDENT, YUANXIANG_NUMBER, "5号楼和6号楼之间的长椅坏了")
        assert bench.status_code == 200
        await settled(run)
        first, second = await cases(db)
        assert (first.community_id, first.location) == ("bgy-north", "72号楼后侧")
        assert (second.community_id, second.location) == ("yuanxiang", "5号楼和6号楼之间")


async def test_hostile_text_in_a_guided_telegram_report(running: Running) -> None:
    tg = running.telegram
    tg.add_user(5010, "\u202e\u200b恶意\x1b[31m名字")
    ask = await running.say(5010, "/report")
    ask = await running.press_label(5010, ask, "环境卫生")
    ask = await running.press_label(5010, ask, "嘉州水郡南区社区")
    # only invisible characters where the place is asked: asked again
    again = await running.say(5010, "\u200b\u202e\u2066")
    assert again.text.startswith(REASK_TEXT)
    ask = await running.say(5010, "\u202e172号楼\u200b门口")
    assert ask.text.startswith("请描述遇到的问题")
    ask = await running.say(5010, "\u2067垃圾" + "很多" * 2000)  # up to Telegram's 4,096
    ask = await running.press_label(5010, ask, "不用照片")
    assert "很多" * 499 in ask.text  # the summary shows the description as the case will hold it
    assert "很多" * 501 not in ask.text
    seen = len(tg.inbox(5010))
    cut = await running.press_label(5010, ask, "✅ 提交")
    assert cut.text == CUT
    receipt = await running.next_message(5010, seen + 1)
    assert receipt.text.startswith("已收到您的诉求 #1")
    [stored] = await running.cases()
    assert stored.location == "172号楼门口"
    assert stored.description == ("垃圾" + "很多" * 2000)[:MAX_DESCRIPTION]
    resident = await running.person(stored.resident_id)
    assert resident.name == "恶意[31m名字"
