"""Every (status, action, actor) through the real services on the example directory.

An allowed combination lands where docs/reference.md §4 says and leaves events and messages
behind; any other is refused and changes nothing: the case rows, every event and every outbox
row are identical before and after. The expected tables are written out here and in example.py
(where each action lands), not read from the code.
"""

from __future__ import annotations

import pytest

from bot.services.cases.lifecycle import Request, act
from bot.services.unit.context import ServiceContext, ServiceRefusal
from core.cases import Action

from .example import ACTORS, OUTCOMES, REQUESTS, case_in, lands, snapshot

# Who may do what in each status (docs/reference.md §4); every combination not listed is refused.
HOLDERS = {"manager", "supervisor"}
STAFF = {"staff"}
# Staff reassign; so does the system, handing on the cases of someone a directory load retired.
REASSIGNERS = {"staff", "system"}
# Staff close; so does the city whose key covers the community (Open311), which may also send a
# resolved or closed case back, and leave a note on a case in any status.
CLOSERS = {"staff", "city"}
CITY = {"city"}
ALLOWED: dict[str, dict[str, set[str]]] = {
    "unassigned": {
        "reassign": REASSIGNERS,
        "reject": STAFF,
        "close": CLOSERS,
        "cancel": {"resident"},
        "ask": STAFF,
        "inform": CITY,
    },
    "assigned": {
        "acknowledge": HOLDERS,
        "resolve": HOLDERS,
        "decline": HOLDERS,
        "reassign": REASSIGNERS,
        "reject": STAFF,
        "close": CLOSERS,
        "cancel": {"resident"},
        "escalate": {"system"},
        "remind": {"system"},
        "ask": HOLDERS | STAFF,
        "inform": CITY,
    },
    "acknowledged": {
        "resolve": HOLDERS,
        "decline": HOLDERS,
        "reassign": REASSIGNERS,
        "reject": STAFF,
        "close": CLOSERS,
        "escalate": {"system"},
        "remind": {"system"},
        "ask": HOLDERS | STAFF,
        "inform": CITY,
    },
    "resolved": {
        "rate_satisfied": {"resident"},
        "rate_basically": {"resident"},
        "rate_dissatisfied": {"resident"},
        "close": CLOSERS,
        "nudge": {"system"},
        "close_unrated": {"system"},
        "reopen": CITY,
        "inform": CITY,
    },
    "closed": {"reopen": CITY, "inform": CITY},
    "cancelled": {"inform": CITY},
    "rejected": {"inform": CITY},
}

ENDED = {"closed", "cancelled", "rejected"}
TABLE_REASONS = {"refused.not_entitled", "refused.wrong_status", "refused.closed"}


def test_the_table_names_every_action_and_status() -> None:
    assert {r.action for r in REQUESTS.values()} == set(Action)
    assert set(OUTCOMES) == set(REQUESTS)
    for allowed in ALLOWED.values():
        assert set(allowed) <= set(REQUESTS)
        assert all(who <= set(ACTORS) for who in allowed.values())


async def _check_allowed(ctx: ServiceContext, status: str, action: str, who: str) -> None:
    label = (status, action, who)
    landed = await lands(ctx, status, ACTORS[who], REQUESTS[action], OUTCOMES[action], label)
    number, row = landed.number, landed.row
    assert (row["closed_at"] is not None) == (row["status"] in ENDED), label
    if action in ("acknowledge", "resolve"):
        assert row["acknowledged_at"] is not None, label
    if action == "resolve":
        assert row["resolved_at"] is not None, label
    # Its events are this case's; the rows it superseded were card edits; its messages are about it.
    assert {e["case_number"] for e in landed.events} == {number}, label
    assert all(then["edit_of"] is not None for then in landed.superseded), label
    messages = landed.messages
    assert all(f"#{number}" in m["text"] and m["case_number"] == number for m in messages), label


@pytest.mark.parametrize("status", list(ALLOWED))
async def test_every_action_by_every_actor(loaded: ServiceContext, status: str) -> None:
    ctx = loaded
    refused_case = await case_in(ctx, status)
    baseline = await snapshot(ctx)
    allowed = refused = 0
    for action, request in REQUESTS.items():
        for who, actor in ACTORS.items():
            if who in ALLOWED[status].get(action, set()):
                await _check_allowed(ctx, status, action, who)
                baseline = await snapshot(ctx)
                allowed += 1
                continue
            with pytest.raises(ServiceRefusal) as refusal:
                await act(ctx, number=refused_case, actor=actor, request=request)
            assert refusal.value.reason in TABLE_REASONS, (status, action, who)
            assert await snapshot(ctx) == baseline, (status, action, who)
            refused += 1
    assert allowed == sum(len(w) for w in ALLOWED[status].values())
    assert allowed + refused == len(REQUESTS) * len(ACTORS)


async def test_refusal_reasons_tell_the_person_why(loaded: ServiceContext) -> None:
    ctx = loaded
    number = await case_in(ctx, "acknowledged")
    with pytest.raises(ServiceRefusal) as stranger:
        await act(ctx, number=number, actor=ACTORS["other_staff"], request=REQUESTS["close"])
    assert stranger.value.reason == "refused.not_entitled"
    with pytest.raises(ServiceRefusal) as stale:
        await act(ctx, number=number, actor=ACTORS["manager"], request=REQUESTS["acknowledge"])
    assert stale.value.reason == "refused.wrong_status"
    assert stale.value.params["number"] == number
    assert stale.value.params["status"] == {"zh": "处理中", "en": "in progress"}
    done = await case_in(ctx, "closed")
    with pytest.raises(ServiceRefusal) as ended:
        await act(ctx, number=done, actor=ACTORS["resident"], request=REQUESTS["rate_satisfied"])
    assert ended.value.reason == "refused.closed"


async def test_arguments_that_name_nobody_are_refused(loaded: ServiceContext) -> None:
    ctx = loaded
    number = await case_in(ctx, "assigned")
    baseline = await snapshot(ctx)
    staff = ACTORS["staff"]
    bad = [
        (Request(Action.REASSIGN, manager_id="nobody"), "refused.unknown_manager"),
        (Request(Action.REASSIGN, manager_id="r-bgy-72"), "refused.unknown_manager"),
        (Request(Action.REASSIGN, manager_id="mgr-jzsj-south"), "refused.same_manager"),
        (Request(Action.REJECT), "refused.reason_missing"),
        (Request(Action.REJECT, note="  "), "refused.reason_missing"),
        (Request(Action.REJECT, duplicate_of=number), "refused.merge_self"),
        (Request(Action.REJECT, duplicate_of=99999), "refused.unknown_original"),
        (Request(Action.CLOSE), "refused.reason_missing"),
    ]
    for request, reason in bad:
        with pytest.raises(ServiceRefusal) as refusal:
            await act(ctx, number=number, actor=staff, request=request)
        assert refusal.value.reason == reason, request
        assert await snapshot(ctx) == baseline, request
    with pytest.raises(ServiceRefusal) as missing:
        await act(ctx, number=99999, actor=staff, request=REQUESTS["close"])
    assert missing.value.reason == "refused.no_such_case"


async def test_a_duplicate_links_to_its_original(loaded: ServiceContext) -> None:
    ctx = loaded
    original = await case_in(ctx, "assigned")
    copy = await case_in(ctx, "assigned")
    rejected = await act(
        ctx,
        number=copy,
        actor=ACTORS["staff"],
        request=Request(Action.REJECT, duplicate_of=original),
    )
    assert (rejected.status, rejected.duplicate_of) == ("rejected", original)


async def test_a_case_once_taken_on_cannot_be_withdrawn(loaded: ServiceContext) -> None:
    ctx = loaded
    reopened = await case_in(ctx, "resolved")
    await act(ctx, number=reopened, actor=ACTORS["resident"], request=REQUESTS["rate_dissatisfied"])
    declined = await case_in(ctx, "acknowledged")
    await act(ctx, number=declined, actor=ACTORS["manager"], request=REQUESTS["decline"])
    baseline = await snapshot(ctx)
    assert [c["status"] for c in baseline[0][-2:]] == ["assigned", "unassigned"]
    for number in (reopened, declined):
        with pytest.raises(ServiceRefusal) as refusal:
            await act(ctx, number=number, actor=ACTORS["resident"], request=REQUESTS["cancel"])
        assert refusal.value.reason == "refused.wrong_status"
    assert await snapshot(ctx) == baseline
