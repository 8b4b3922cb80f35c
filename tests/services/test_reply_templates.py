"""Reply templates (issue 24): the directory's ``replies`` are loaded with their category, read in
the reader's language, and offered to a manager after "已办好" on Telegram — the reply picked is
what the resident receives with the rating question, in the resident's language; a category
without resolve replies is resolved at the press, as before. Every update goes through PTB to
the handlers (Telegram faked at its request seam); what is checked is what people see."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import col, select

from bot.directory_file import read_directory
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.staff import replies
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Action, Channel
from core.directory import Directory
from db.models import Case, CaseEvent, Category, OutboxMessage
from tests.conftest import EXAMPLE
from tests.services.test_follow_telegram import Resident, button, labels, messages_to

MANAGER_CHAT = 2001  # mgr-jzsj-south
RESIDENT_CHAT = "4001"  # r-jzsj-172, reads Chinese
ANNA_CHAT = "4005"  # r-yunwan-en, reads English
YUNWAN_MANAGER_CHAT = 2005  # mgr-yunwan, reads Chinese
PIPE = "已关闭阀门并更换破损水管，请您回家看看是否还在渗水。"
UPSTAIRS = "漏水来自楼上住户，已上门协调并修好。"
UPSTAIRS_EN = "The leak came from the flat above; we visited them and it is repaired."


async def _case(ctx: ServiceContext, category: str, *, resident: str = "r-jzsj-172") -> int:
    community = "yunwan" if resident == "r-yunwan-en" else "jzsj-south"
    new = NewReport(community, category, "楼上漏水，天花板在滴水。", location="172号楼")
    case = await report(ctx, resident_id=resident, channel=Channel.TELEGRAM, new=new)
    assert case.number is not None
    return case.number


async def _row(ctx: ServiceContext, number: int) -> Case:
    async with ctx.db.reading() as session:
        case = await session.get(Case, number)
    assert case is not None
    return case


async def _resolved_message(ctx: ServiceContext, chat: str) -> OutboxMessage:
    found = [m for m in await messages_to(ctx, chat) if m.template.startswith("case.resolved")]
    assert len(found) == 1, [m.template for m in await messages_to(ctx, chat)]
    return found[0]


def _edited(edit: Callable[[dict[str, Any]], None]) -> Directory:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    edit(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "edited.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return read_directory(path)


def _category(data: dict[str, Any], category_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["categories"] if c["id"] == category_id)
    return found


# ---- loaded, and read ---------------------------------------------------------------------------


async def test_a_load_keeps_each_categorys_replies_and_a_reload_changes_nothing(
    loaded: ServiceContext,
) -> None:
    async with loaded.db.reading() as session:
        leak = await session.get(Category, "water-leak")
        parcels = await session.get(Category, "parcels")
        other = await session.get(Category, "sanitation")
    assert leak is not None
    assert parcels is not None
    assert other is not None
    assert [r["zh"] for r in leak.replies["resolve"]] == [PIPE, UPSTAIRS]
    assert leak.replies["resolve"][1]["en"] == UPSTAIRS_EN
    assert set(parcels.replies) == {"close", "reject"}  # only the actions that have some
    assert other.replies == {}
    assert not (await load_directory(loaded, read_directory(EXAMPLE))).changed


async def test_edited_replies_replace_the_old_ones(loaded: ServiceContext) -> None:
    def edit(data: dict[str, Any]) -> None:
        _category(data, "water-leak")["replies"] = {"resolve": [{"zh": "已修好", "en": "Fixed"}]}
        del _category(data, "parcels")["replies"]

    summary = await load_directory(loaded, _edited(edit))
    assert summary.counts["updated"] == 2
    async with loaded.db.reading() as session:
        assert await replies.replies_for(
            session, category_id="water-leak", action="resolve", language="en"
        ) == ["Fixed"]
        assert (
            await replies.replies_for(session, category_id="parcels", action="close", language="zh")
            == []
        )


async def test_replies_are_read_in_the_readers_language(loaded: ServiceContext) -> None:
    async with loaded.db.reading() as session:
        zh = await replies.replies_for(
            session, category_id="water-leak", action="resolve", language="zh"
        )
        en = await replies.replies_for(
            session, category_id="water-leak", action="resolve", language="en"
        )
        unknown = await replies.replies_for(
            session, category_id="water-leak", action="decline", language="zh"
        )
    assert zh == [PIPE, UPSTAIRS]
    assert en[1] == UPSTAIRS_EN
    assert unknown == []
    offered = await replies.offered(loaded, category_id="parcels", language="en")
    assert offered == {
        "close": [
            "We spoke to the parcel station; the parcels are inside now and the way is clear."
        ],
        "reject": [
            "How the parcel shop runs is not the estate's to manage; please call the 12345 hotline."
        ],
    }


# ---- Telegram: "已办好", then the reply ---------------------------------------------------------


async def test_done_offers_the_replies_and_the_one_picked_reaches_the_resident(
    loaded: ServiceContext,
) -> None:
    number = await _case(loaded, "water-leak")
    manager = Resident(loaded, MANAGER_CHAT)
    [answer] = await manager.presses(f"done:{number}")
    assert "show_alert" not in answer  # answered quietly: nothing refused

    asked = await manager.last()
    assert asked.template == "flow.ask_resolve_note"
    assert f"1. {PIPE}\n2. {UPSTAIRS}" in asked.text  # each reply in full
    assert labels(asked) == [  # one to a row, a long one cut on its button
        "1. 已关闭阀门并更换破损水管，请您回家看看是否还在渗…",
        "2. 漏水来自楼上住户，已上门协调并修好。",
        "不用说明",
        "✖ 取消",
    ]
    assert [len(row) for row in asked.buttons] == [1, 1, 2]
    assert (await _row(loaded, number)).status == "assigned"  # not resolved yet

    await manager.presses(button(asked, "2."))
    case = await _row(loaded, number)
    assert case.status == "resolved"
    told = await _resolved_message(loaded, RESIDENT_CHAT)
    assert told.text == f"负责人表示诉求 #{number} 已办好：{UPSTAIRS}\n请您评价："
    assert [b["data"] for row in told.buttons for b in row] == [
        f"rate:{number}:1",
        f"rate:{number}:2",
        f"rate:{number}:3",
    ]
    async with loaded.db.reading() as session:
        query = select(CaseEvent).where(
            CaseEvent.case_number == number, CaseEvent.kind == "resolved"
        )
        [event] = (await session.exec(query)).all()
    assert (event.note, event.channel, event.actor_id) == (UPSTAIRS, "telegram", "mgr-jzsj-south")


async def test_an_english_reader_receives_the_reply_in_english(loaded: ServiceContext) -> None:
    number = await _case(loaded, "water-leak", resident="r-yunwan-en")
    manager = Resident(loaded, YUNWAN_MANAGER_CHAT)
    await manager.presses(f"done:{number}")
    await manager.presses(button(await manager.last(), "2."))  # offered in Chinese
    told = await _resolved_message(loaded, ANNA_CHAT)
    rate = "Please rate the result:"
    assert told.text == f"The manager says #{number} is fixed: {UPSTAIRS_EN}\n{rate}"


async def test_no_note_or_the_managers_own_words(loaded: ServiceContext) -> None:
    skipped, written = await _case(loaded, "water-leak"), await _case(loaded, "water-leak")
    manager = Resident(loaded, MANAGER_CHAT)
    await manager.presses(f"done:{skipped}")
    await manager.presses(button(await manager.last(), "不用说明"))
    await manager.presses(f"done:{written}")
    await manager.says("阀门已换新，明早再来复查")

    told = [m for m in await messages_to(loaded, RESIDENT_CHAT) if "已办好" in m.text]
    assert [m.text for m in told] == [
        f"负责人表示诉求 #{skipped} 已办好。请您评价：",
        f"负责人表示诉求 #{written} 已办好：阀门已换新，明早再来复查\n请您评价：",
    ]


async def test_a_category_without_resolve_replies_is_resolved_at_the_press(
    loaded: ServiceContext,
) -> None:
    number = await _case(loaded, "parcels")  # it has close and reject replies, none to resolve
    manager = Resident(loaded, MANAGER_CHAT)
    await manager.presses(f"done:{number}")
    assert (await _row(loaded, number)).status == "resolved"
    assert not [
        m for m in await messages_to(loaded, str(MANAGER_CHAT)) if m.template.startswith("flow.")
    ]
    told = await _resolved_message(loaded, RESIDENT_CHAT)
    assert told.text == f"负责人表示诉求 #{number} 已办好。请您评价："


async def test_a_reply_picked_after_the_case_moved_on_changes_nothing_and_says_why(
    loaded: ServiceContext,
) -> None:
    number = await _case(loaded, "water-leak")
    manager = Resident(loaded, MANAGER_CHAT)
    await manager.presses(f"done:{number}")
    asked = await manager.last()
    staff = Actor("liubo", Channel.WEB)
    await act(loaded, number=number, actor=staff, request=Request(Action.CLOSE, note="已电话沟通"))
    await manager.presses(button(asked, "1."))
    assert (await _row(loaded, number)).status == "closed"
    said = await manager.last()
    assert said.template == "refused.closed"
    async with loaded.db.reading() as session:
        query = select(CaseEvent.kind).where(CaseEvent.case_number == number)
        kinds = (await session.exec(query.order_by(col(CaseEvent.id)))).all()
    assert "resolved" not in kinds


async def test_a_press_by_someone_else_is_refused_before_anything_is_offered(
    loaded: ServiceContext,
) -> None:
    number = await _case(loaded, "water-leak")
    other = Resident(loaded, 2002)  # mgr-bgy-north: not theirs
    answers = await other.presses(f"done:{number}")
    assert [answer.get("show_alert") for answer in answers] == [True]
    assert not [m for m in await messages_to(loaded, "2002") if m.template.startswith("flow.")]
