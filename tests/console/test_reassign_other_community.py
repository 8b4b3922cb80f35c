"""A case handed only to whom its community may give it, whichever door the request comes through
(issue 21 item 5): the console's POST naming another community's manager, and Telegram presses
naming someone no longer eligible, are refused with a clear answer and change nothing — and the
console's holder filter offers only people of the reader's communities (item 7)."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from bot.directory_file import read_directory
from bot.services.cases.lifecycle import Request, act
from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.staff import signin
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Action, Channel
from db.models import OutboxMessage
from sandbox.harness import EXAMPLE
from tests.services.example import case_in, snapshot
from tests.telegram.test_answers import handled

from .conftest import MANAGER, OTHER_MANAGER, OTHER_STAFF, STAFF, SUPERVISOR, Browser

OPTION = re.compile(r'<option value="([^"]*)"')
PROOF = re.compile(r'name="csrf" value="([^"]+)"')
STAFF_TELEGRAM = 1001  # liubo
OTHER_STAFF_TELEGRAM = 1002  # suxinghua


async def _sign_in(browser: Browser, person: str) -> None:
    """Sign in as a browser does: open a fresh link, press its button (with the form's token
    when the page carries one)."""
    token, _ = await signin.issue_token(browser.ctx, person_id=person)
    shown = await browser.client.get(f"/console/login/{token}")
    proof = PROOF.search(shown.text)
    form = {"csrf": proof.group(1)} if proof else {}
    done = await browser.client.post(f"/console/login/{token}", data=form)
    assert done.status_code == 303, done.text[:300]


def _options(page: str, name: str) -> list[str]:
    """The values a page's ``<select name=...>`` offers, the empty choice left out."""
    start = page.index(f'<select name="{name}"')
    chosen = page[start : page.index("</select>", start)]
    return [v for v in OPTION.findall(chosen) if v]


async def test_the_console_refuses_another_communitys_manager(browser: Browser) -> None:
    number = await case_in(browser.ctx, "assigned")
    await _sign_in(browser, STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert _options(page, "manager") == [SUPERVISOR]  # jzsj-south's own, the holder aside
    for stranger in (OTHER_MANAGER, "sup-bgy-north"):
        before = await snapshot(browser.ctx)
        done = await browser.act(number, action="reassign", manager=stranger)
        assert done.status_code == 409
        assert (
            f"诉求 #{number} 不能改派给 {stranger}：此人不是该诉求所在社区的负责人或主管。"
            in done.text
        )
        assert await snapshot(browser.ctx) == before  # case, events, outbox: all as they were
    await _sign_in(browser, OTHER_MANAGER)
    assert (await browser.client.get(f"/console/cases/{number}")).status_code == 404
    # What the page offers is what the POST takes.
    await _sign_in(browser, STAFF)
    assert (await browser.act(number, action="reassign", manager=SUPERVISOR)).status_code == 303
    await _sign_in(browser, SUPERVISOR)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert 'id="case-holder">赵主管<' in page


async def test_the_refusal_is_in_the_readers_language(browser: Browser) -> None:
    number = await case_in(browser.ctx, "unassigned")
    await _sign_in(browser, STAFF)
    csrf = await browser.csrf()
    await browser.client.post("/console/language", data={"csrf": csrf, "language": "en"})
    done = await browser.act(number, action="reassign", manager=OTHER_MANAGER)
    assert done.status_code == 409
    assert (
        f"Case #{number} cannot go to {OTHER_MANAGER}: they are not a manager or supervisor of "
        "its community." in done.text
    )


async def test_with_nobody_to_hand_it_to_the_console_says_so(browser: Browser) -> None:
    # jzsj-south's supervisor moves to bgy-north: the manager holds the case, nobody else may.
    await _move(browser.ctx, SUPERVISOR, "bgy-north")
    number = await case_in(browser.ctx, "assigned")
    await _sign_in(browser, STAFF)
    page = (await browser.client.get(f"/console/cases/{number}")).text
    assert '<select name="manager"' not in page
    assert f"诉求 #{number} 所在社区没有其他可以改派的负责人或主管。" in page


async def _move(ctx: ServiceContext, person: str, community: str) -> None:
    """Load the example directory with ``person`` in ``community``."""
    directory = read_directory(EXAMPLE)
    people = [
        p.model_copy(update={"community": community}) if p.id == person else p
        for p in directory.people
    ]
    await load_directory(ctx, directory.model_copy(update={"people": people}))


def _press(update_id: int, user: int, data: str) -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": "刘博", "language_code": "zh"}
    query = {"id": f"q{update_id}", "from": sender, "chat_instance": "1", "data": data}
    return {"update_id": update_id, "callback_query": query}


async def _asked(ctx: ServiceContext, person: str) -> OutboxMessage:
    """The last question put to ``person``."""
    async with ctx.db.reading() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.person_id == person, OutboxMessage.template == "flow.ask_reassign"
        )
        found = (await session.exec(query.order_by(col(OutboxMessage.id).desc()))).first()
    assert found is not None
    return found


async def test_a_telegram_press_for_someone_no_longer_eligible_is_refused(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await case_in(ctx, "unassigned")  # declined: nobody holds it
    await handled(ctx, _press(1, STAFF_TELEGRAM, f"reassign:{number}"))
    offered = _choices(await _asked(ctx, STAFF))
    assert offered == [("王经理", "r:reassign:0"), ("赵主管", "r:reassign:1")]  # jzsj-south's own
    # The supervisor moves to bgy-north before the press: the button now names a stranger.
    await _move(ctx, SUPERVISOR, "bgy-north")
    before = await snapshot(ctx)
    api = await handled(ctx, _press(2, STAFF_TELEGRAM, "r:reassign:1"))
    assert api.answers() == [
        {
            "callback_query_id": "q2",
            "text": (
                f"诉求 #{number} 不能改派给 {SUPERVISOR}：此人不是该诉求所在社区的负责人或主管。"
            ),
            "show_alert": True,
        }
    ]
    assert await snapshot(ctx) == before  # case, events, outbox: all as they were
    # A crafted choice the question never offered: asked again, with whom it may go to now.
    await handled(ctx, _press(3, STAFF_TELEGRAM, "r:reassign:7"))
    cases, events, outbox = await snapshot(ctx)
    assert (cases, events, outbox[: len(before[2])]) == before
    assert [(m["person_id"], m["template"]) for m in outbox[len(before[2]) :]] == [
        (STAFF, "flow.ask_reassign")
    ]
    assert _choices(await _asked(ctx, STAFF)) == [("王经理", "r:reassign:0")]
    await handled(ctx, _press(4, STAFF_TELEGRAM, "r:reassign:0"))
    assert (await snapshot(ctx))[0][-1]["manager_id"] == MANAGER


def _choices(question: OutboxMessage) -> list[tuple[str, str]]:
    """A question's choices as (label, callback data), its cancel button left out."""
    return [(b["text"], b["data"]) for row in question.buttons for b in row][:-1]


async def test_a_telegram_reassign_by_another_communitys_staff_is_refused(
    loaded: ServiceContext,
) -> None:
    ctx = loaded
    number = await case_in(ctx, "unassigned")
    before = await snapshot(ctx)
    api = await handled(ctx, _press(1, OTHER_STAFF_TELEGRAM, f"reassign:{number}"))
    assert api.answers()[0]["text"] == "您无权对该诉求进行此操作。"
    assert await snapshot(ctx) == before


async def test_the_holder_filter_lists_only_people_of_the_readers_communities(
    browser: Browser,
) -> None:
    ctx = browser.ctx
    declined = await case_in(ctx, "unassigned")  # the manager declined it: he acted on it
    await act(
        ctx,
        number=declined,
        actor=Actor(STAFF, Channel.WEB),
        request=Request(Action.REASSIGN, manager_id=SUPERVISOR),
    )
    other = await report(
        ctx,
        resident_id="r-bgy-72",
        channel=Channel.SMS,
        new=NewReport("bgy-north", "construction-waste", "72号楼后面有建筑垃圾"),
    )
    expected = {
        STAFF: {MANAGER, SUPERVISOR, STAFF},  # jzsj-south's managers, supervisors, staff
        OTHER_STAFF: {OTHER_MANAGER, "sup-bgy-north", OTHER_STAFF},
        # Himself, and the holder of the case he declined (he still sees it).
        MANAGER: {MANAGER, SUPERVISOR},
        SUPERVISOR: {SUPERVISOR, MANAGER},  # himself and the manager below him
        OTHER_MANAGER: {OTHER_MANAGER},
    }
    for person, holders in expected.items():
        await _sign_in(browser, person)
        page = (await browser.client.get("/console/cases")).text
        assert set(_options(page, "holder")) == holders, person
    # A holder typed into the URL shows no more than the reader may see.
    await _sign_in(browser, STAFF)
    crafted = await browser.client.get(f"/console/cases?holder={OTHER_MANAGER}&status=all")
    assert f'data-number="{other.number}"' not in crafted.text
    assert "72号楼后面有建筑垃圾" not in crafted.text
