"""A manager leaves (issue 12, part 4): the directory is loaded again without them, and the case
they had taken on reaches the manager the new routing names, with its card; the resident hears
that someone new has it. The real stack and the Telegram emulator."""

from __future__ import annotations

from bot.directory_file import read_directory
from bot.services.directory.load import load_directory
from tests.conftest import EXAMPLE
from tests.e2e.conftest import MANAGER, OTHER_MANAGER, RESIDENT, Running


async def test_a_leavers_case_reaches_the_new_manager_and_the_resident_hears(
    running: Running,
) -> None:
    tg = running.telegram
    number = await running.report(RESIDENT, "快递把消防通道堵了")
    card = await running.next_message(MANAGER, 0)
    await tg.user_presses(MANAGER, card, f"ack:{number}")
    await running.until(lambda: "接单" in tg.inbox(RESIDENT)[-1].text)  # told it was taken on
    heard = len(tg.inbox(RESIDENT))
    before = len(tg.inbox(OTHER_MANAGER))

    # 王经理 left the company: the file no longer lists him, jzsj-south now goes to 郑经理.
    directory = read_directory(EXAMPLE)
    people = [p for p in directory.people if p.id != "mgr-jzsj-south"]
    routing = [
        r.model_copy(update={"manager": "mgr-bgy-north"}) if r.manager == "mgr-jzsj-south" else r
        for r in directory.routing
    ]
    edited = directory.model_copy(update={"people": people, "routing": routing})
    summary = await load_directory(running.ctx, edited)
    assert summary.counts["deactivated"] == 1
    assert [(m.number, m.to_id) for m in summary.moves] == [(number, "mgr-bgy-north")]

    new_card = await running.next_message(OTHER_MANAGER, before)
    assert new_card.text.startswith(f"📋 新诉求 #{number}")
    assert f"ack:{number}" in new_card.button_data()
    told = await running.next_message(RESIDENT, heard)
    assert told.text == f"您的诉求 #{number} 已由社区改派给新的负责人。"
    case = await running.case(number)
    assert (case.status, case.manager_id) == ("assigned", "mgr-bgy-north")
    assert (await running.events(number))[-1] == "reassigned"

    # and the new holder can take it on from the card they were given
    await tg.user_presses(OTHER_MANAGER, new_card, f"ack:{number}")
    await running.eventually(lambda: _status(running, number, "acknowledged"))


async def _status(running: Running, number: int, status: str) -> bool:
    return (await running.case(number)).status == status
