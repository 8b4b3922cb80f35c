"""The list's bulk form in Debian's Chromium, on the real stack with both emulators (issue 24):

- the town desk (a staff member of every community, as the demo's 韩梅) hands three cases of
  three communities to three new holders — the form names one new holder at a time, so a case
  of another community is refused with its reason, and the desk hands the others on in two more
  bulk actions from the list filtered by community; each holder's Telegram gets its own card;
- 刘博 ticks two parcel cases, presses close without a note, picks the saved reply by its words,
  and 李大爷's phone receives exactly that reply for each case."""

from __future__ import annotations

import re
from typing import Any

from bot.services.directory.load import load_directory
from bot.services.staff import signin
from core.directory_checks import validate_directory
from sandbox.demo import TOWN_DESK, demo_directory
from tests.e2e.channels import Both

from .in_browser import (
    JZSJ_SOUTH,
    LI_DAYE,
    SUPERVISOR,
    errors_of,
    needs_chromium,
    refused_by_csp,
    reported_by_sms,
    sign_in_link,
    signed_in,
)
from .test_accessibility import _check as accessible

pytestmark = needs_chromium

SPOKE = "已联系驿站负责人，快递已移入店内，门口通道已清空。"
CARD = re.compile(r"📋 新诉求 #(\d+)")
# Who reports where, and the community's supervisor (in Telegram) the case goes on to.
HE_NVSHI, BGY_NORTH, QIAN = "+8613900000002", "+8610690000002", 3002  # bgy-north
ANNA, YUNWAN, ZHOU = "+8613900000005", "+8610690000005", 3005  # yunwan


async def _town_desk_link(run: Both) -> str:
    """The directory with the demo's town desk (staff of every community) loaded on the stack,
    and a sign-in link for it (it has no Telegram: the link as ``console-link`` prints it)."""
    data = demo_directory("zh", fast=False)
    data["defaults"] = {**data.get("defaults", {}), "quiet_hours": None}
    directory = validate_directory(data)
    assert not isinstance(directory, list), directory
    await load_directory(run.ctx, directory)
    token, _ = await signin.issue_token(run.ctx, person_id=TOWN_DESK["id"])
    return f"{run.public_url}/console/login/{token}"


def _cards(run: Both, user: int) -> list[int]:
    """The cases of the new-case cards in ``user``'s Telegram chat."""
    return [int(m[1]) for s in run.telegram.inbox(user) if (m := CARD.match(s.text))]


async def _hand_on(page: Any, numbers: list[int], holder: str) -> str:
    """Tick ``numbers`` on the list shown, pick ``holder`` and press reassign: the summary."""
    for number in numbers:
        await page.get_by_label(f"选择 #{number}", exact=True).check()
    await page.select_option("#bulk select[name=manager]", holder)
    await page.click("#bulk-reassign")
    await page.wait_for_selector("#bulk-summary")
    return str(await page.inner_text("#bulk-summary"))


async def test_three_cases_handed_to_three_new_holders_reach_each_ones_chat(
    run: Both, chromium: Any
) -> None:
    run.telegram.add_user(ZHOU, "周主管")
    south = await reported_by_sms(run, "172号楼门口快递堆满了")
    north = await reported_by_sms(run, "72号楼后面的路灯坏了", phone=HE_NVSHI, to=BGY_NORTH)
    yunwan = await reported_by_sms(run, "The lift in block 3 is stuck", phone=ANNA, to=YUNWAN)
    link = await _town_desk_link(run)
    cards = {user: _cards(run, user) for user in (SUPERVISOR, QIAN, ZHOU)}
    async with signed_in(chromium, link, locale="zh-CN") as page:
        problems = errors_of(page)
        # All three ticked for 赵主管: only jzsj-south's is his to take; the others say why.
        summary = await _hand_on(page, [south, north, yunwan], "sup-jzsj-south")
        assert f"#{south}\t✓ 已改派给 赵主管" in summary
        for number in (north, yunwan):
            why = f"诉求 #{number} 不能改派给 赵主管：此人不是该诉求所在社区的负责人或主管。"
            assert f"#{number}\t✗ 未办：{why}" in summary, summary
        assert await page.inner_text("#bulk-counts") == "1 件已办，2 件未办"
        # The other two from the list of their own community, each to its supervisor.
        for number, community, holder, name in (
            (north, "bgy-north", "sup-bgy-north", "钱主管"),
            (yunwan, "yunwan", "sup-yunwan", "周主管"),
        ):
            await page.goto(f"{run.public_url}/console/cases?community={community}")
            summary = await _hand_on(page, [number], holder)
            assert summary.strip().endswith(f"#{number}\t✓ 已改派给 {name}"), summary
        assert not refused_by_csp(problems), problems
    for user, number in ((SUPERVISOR, south), (QIAN, north), (ZHOU, yunwan)):
        await run.until(lambda u=user: len(_cards(run, u)) > len(cards[u]))
        assert _cards(run, user)[len(cards[user]) :] == [number], user


async def test_a_saved_reply_chosen_at_a_bulk_close_is_what_the_resident_receives(
    run: Both, chromium: Any
) -> None:
    first = await reported_by_sms(run, "快递堆在172号楼门口，过不去")
    second = await reported_by_sms(run, "快递车又堵住172号楼门口", to=JZSJ_SOUTH)
    async with signed_in(chromium, await sign_in_link(run), locale="zh-CN") as page:
        problems = errors_of(page)
        for number in (first, second):
            await page.get_by_label(f"选择 #{number}", exact=True).check()
        await page.click("#bulk-close")  # no note written: the saved replies are offered
        await page.wait_for_selector("#bulk-closing")
        await accessible(page, "the bulk close's replies", "desk")
        await page.get_by_label(SPOKE).check()  # by the words on its label
        await page.click("#bulk-close-confirm")
        await page.wait_for_selector("#bulk-summary")
        assert await page.inner_text("#bulk-counts") == "2 件已办，0 件未办"
        assert not refused_by_csp(problems), problems
    expected = [f"诉求 #{n} 已由社区工作人员办结。说明：{SPOKE}" for n in (first, second)]
    await run.until(lambda: all(e in [m.body for m in run.twilio.inbox(LI_DAYE)] for e in expected))
    told = [m.body for m in run.twilio.inbox(LI_DAYE) if "办结" in m.body]
    assert sorted(told) == sorted(expected)
