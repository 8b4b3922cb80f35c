"""The case lifecycle as a pure function: every (status, action, relations) against a table written
out here by hand from docs/reference.md §4 — not read back from ``core.cases.TRANSITIONS`` — and the
callback codec and buttons that are derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import pytest

from core.access import city_actor, city_refusal, is_city, relations_of
from core.buttons import MAX_DATA_BYTES, VERBS, Press, buttons_for, decode, encode
from core.cases import (
    Action,
    CaseState,
    EventKind,
    Rating,
    Refusal,
    Relation,
    Status,
    Transition,
    apply,
)
from core.texts import CATALOGS

S, R, E = Status, Relation, EventKind
HOLDERS = frozenset({R.ASSIGNEE, R.CHAIN})


@dataclass(frozen=True)
class Row:
    """Who may take an action, from which status to which, what it records and changes."""

    action: Action
    who: frozenset[Relation]
    moves: dict[Status, Status]
    events: tuple[EventKind, ...]
    rating: Rating | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    before_ack_only: bool = False  # refused once the case has been taken on


# Any status not listed in ``moves`` refuses the action; so does anyone not in ``who``.
# The case starts at level 0, never reopened, with manager "m-1"; reassign names "m-2".
TAKEN = {"acknowledged": True}
TABLE: dict[str, Row] = {
    "acknowledge": Row(
        Action.ACKNOWLEDGE, HOLDERS, {S.ASSIGNED: S.ACKNOWLEDGED}, (E.ACKNOWLEDGED,), changes=TAKEN
    ),
    "resolve": Row(
        Action.RESOLVE,
        HOLDERS,
        {S.ASSIGNED: S.RESOLVED, S.ACKNOWLEDGED: S.RESOLVED},
        (E.RESOLVED,),
        changes=TAKEN,
    ),
    "decline": Row(
        Action.DECLINE,
        HOLDERS,
        {S.ASSIGNED: S.UNASSIGNED, S.ACKNOWLEDGED: S.UNASSIGNED},
        (E.DECLINED,),
        changes={"manager_id": None},
    ),
    "rate 1": Row(
        Action.RATE,
        frozenset({R.RESIDENT, R.FOLLOWER}),
        {S.RESOLVED: S.CLOSED},
        (E.RATED,),
        Rating.SATISFIED,
        {"rating": Rating.SATISFIED},
    ),
    "rate 2": Row(
        Action.RATE,
        frozenset({R.RESIDENT, R.FOLLOWER}),
        {S.RESOLVED: S.CLOSED},
        (E.RATED,),
        Rating.BASICALLY_SATISFIED,
        {"rating": Rating.BASICALLY_SATISFIED},
    ),
    "rate 3": Row(
        Action.RATE,
        frozenset({R.RESIDENT, R.FOLLOWER}),
        {S.RESOLVED: S.ASSIGNED},
        (E.RATED, E.REOPENED),
        Rating.DISSATISFIED,
        {"rating": Rating.DISSATISFIED, "reopen_count": 1, "escalation_level": 1},
    ),
    "reassign": Row(
        Action.REASSIGN,
        frozenset({R.STAFF, R.SYSTEM}),
        {S.UNASSIGNED: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED, S.ACKNOWLEDGED: S.ASSIGNED},
        (E.REASSIGNED,),
        changes={"manager_id": "m-2"},
    ),
    "reject": Row(
        Action.REJECT,
        frozenset({R.STAFF}),
        {S.UNASSIGNED: S.REJECTED, S.ASSIGNED: S.REJECTED, S.ACKNOWLEDGED: S.REJECTED},
        (E.REJECTED,),
    ),
    # Staff close a case, and so does the city whose key covers its community (Open311).
    "close": Row(
        Action.CLOSE,
        frozenset({R.STAFF, R.CITY}),
        {s: S.CLOSED for s in (S.UNASSIGNED, S.ASSIGNED, S.ACKNOWLEDGED, S.RESOLVED)},
        (E.CLOSED,),
    ),
    "nudge": Row(Action.NUDGE, frozenset({R.SYSTEM}), {S.RESOLVED: S.RESOLVED}, (E.NUDGED,)),
    "cancel": Row(
        Action.CANCEL,
        frozenset({R.RESIDENT}),
        {S.UNASSIGNED: S.CANCELLED, S.ASSIGNED: S.CANCELLED},
        (E.CANCELLED,),
        before_ack_only=True,
    ),
    "escalate": Row(
        Action.ESCALATE,
        frozenset({R.SYSTEM}),
        {S.ASSIGNED: S.ASSIGNED, S.ACKNOWLEDGED: S.ACKNOWLEDGED},
        (E.ESCALATED,),
        changes={"escalation_level": 1},
    ),
    "remind": Row(
        Action.REMIND,
        frozenset({R.SYSTEM}),
        {S.ASSIGNED: S.ASSIGNED, S.ACKNOWLEDGED: S.ACKNOWLEDGED},
        (E.REMINDED,),
    ),
    # A question to the reporter moves nothing; the holder, those above and staff may ask it.
    "ask": Row(
        Action.ASK,
        frozenset({R.ASSIGNEE, R.CHAIN, R.STAFF}),
        {S.UNASSIGNED: S.UNASSIGNED, S.ASSIGNED: S.ASSIGNED, S.ACKNOWLEDGED: S.ACKNOWLEDGED},
        (E.ASKED,),
    ),
    "close_unrated": Row(
        Action.CLOSE_UNRATED, frozenset({R.SYSTEM}), {S.RESOLVED: S.CLOSED}, (E.CLOSED_UNRATED,)
    ),
    # The city sends a resolved or closed case back to its manager, counted as a reopen.
    "reopen": Row(
        Action.REOPEN,
        frozenset({R.CITY}),
        {S.RESOLVED: S.ASSIGNED, S.CLOSED: S.ASSIGNED},
        (E.REOPENED,),
        changes={"reopen_count": 1},
    ),
    # The city's note moves nothing, whatever the case's status.
    "inform": Row(Action.INFORM, frozenset({R.CITY}), {s: s for s in S}, (E.INFORMED,)),
}
ENDED = frozenset({S.CLOSED, S.CANCELLED, S.REJECTED})
RELATION_SETS = [frozenset(c) for n in range(len(R) + 1) for c in combinations(R, n)]


def test_the_table_covers_every_action() -> None:
    assert {row.action for row in TABLE.values()} == set(Action)
    assert len(RELATION_SETS) == 2 ** len(R)


@pytest.mark.parametrize("taken", [False, True], ids=["new", "taken-on"])
@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("name", list(TABLE))
def test_every_status_action_and_relation_set(name: str, status: Status, taken: bool) -> None:
    row = TABLE[name]
    start = CaseState(status, manager_id="m-1", acknowledged=taken)
    moves = {} if taken and row.before_ack_only else row.moves
    for relations in RELATION_SETS:
        result = apply(start, row.action, relations, rating=row.rating, new_manager_id="m-2")
        who = sorted(relations)
        follower_only = R.FOLLOWER in relations and R.RESIDENT not in relations
        if row.action is Action.RATE and follower_only and status in moves:
            # a follower's rating is feedback: nothing moves
            assert result == Transition(start, (E.FEEDBACK,)), (name, status, who)
            continue
        if relations & row.who and status in moves:
            expected = replace(start, status=moves[status], **row.changes)
            assert result == Transition(expected, row.events), (name, status, who)
        elif not relations & row.who:
            assert result == Refusal("refused.not_entitled"), (name, status, who)
        elif status in ENDED:
            assert result == Refusal("refused.closed"), (name, status, who)
        else:
            assert result == Refusal("refused.wrong_status"), (name, status, who)


RESIDENT = frozenset({R.RESIDENT})
SYSTEM = frozenset({R.SYSTEM})
STAFF = frozenset({R.STAFF})


@pytest.mark.parametrize(
    ("level", "reopens", "chain", "new_level"),
    [(0, 0, 3, 1), (1, 1, 3, 2), (2, 4, 3, 2), (1, 0, 2, 1), (0, 0, 1, 0)],
)
def test_dissatisfied_reopens_one_level_higher_capped_at_the_top(
    level: int, reopens: int, chain: int, new_level: int
) -> None:
    start = CaseState(S.RESOLVED, escalation_level=level, reopen_count=reopens, manager_id="m-1")
    result = apply(start, Action.RATE, RESIDENT, rating=Rating.DISSATISFIED, chain_length=chain)
    assert isinstance(result, Transition)
    assert result.state == CaseState(
        S.ASSIGNED,
        escalation_level=new_level,
        reopen_count=reopens + 1,
        rating=Rating.DISSATISFIED,
        manager_id="m-1",
    )
    assert result.events == (E.RATED, E.REOPENED)


@pytest.mark.parametrize("rating", [Rating.SATISFIED, Rating.BASICALLY_SATISFIED])
def test_satisfied_and_basically_satisfied_close(rating: Rating) -> None:
    start = CaseState(S.RESOLVED, escalation_level=2, reopen_count=1, manager_id="m-1")
    result = apply(start, Action.RATE, RESIDENT, rating=rating)
    assert result == Transition(replace(start, status=S.CLOSED, rating=rating), (E.RATED,))


def test_a_rating_is_required() -> None:
    result = apply(CaseState(S.RESOLVED), Action.RATE, RESIDENT)
    assert result == Refusal("refused.rating_missing")


def test_decline_goes_back_to_staff_without_a_manager() -> None:
    start = CaseState(S.ACKNOWLEDGED, escalation_level=1, manager_id="m-1")
    result = apply(start, Action.DECLINE, frozenset({R.CHAIN}))
    assert result == Transition(replace(start, status=S.UNASSIGNED, manager_id=None), (E.DECLINED,))


def test_reassign_gives_the_new_manager_the_case_at_level_zero() -> None:
    start = CaseState(S.ACKNOWLEDGED, escalation_level=2, reopen_count=1, manager_id="m-1")
    result = apply(start, Action.REASSIGN, STAFF, new_manager_id="m-2")
    expected = replace(start, status=S.ASSIGNED, manager_id="m-2", escalation_level=0)
    assert result == Transition(expected, (E.REASSIGNED,))


def test_reassign_needs_a_different_manager() -> None:
    start = CaseState(S.ASSIGNED, manager_id="m-1")
    assert apply(start, Action.REASSIGN, STAFF) == Refusal("refused.manager_missing")
    same = apply(start, Action.REASSIGN, STAFF, new_manager_id="m-1")
    assert same == Refusal("refused.same_manager")
    # A declined case has no manager: handing it back to the one who declined is allowed.
    unassigned = apply(CaseState(S.UNASSIGNED), Action.REASSIGN, STAFF, new_manager_id="m-1")
    assert isinstance(unassigned, Transition)
    assert unassigned.state.manager_id == "m-1"


def test_the_system_hands_a_leavers_case_on_or_back_to_staff() -> None:
    start = CaseState(S.ACKNOWLEDGED, escalation_level=1, manager_id="m-1", acknowledged=True)
    handed = apply(start, Action.REASSIGN, SYSTEM, new_manager_id="m-2")
    expected = replace(start, status=S.ASSIGNED, manager_id="m-2", escalation_level=0)
    assert handed == Transition(expected, (E.REASSIGNED,))
    # Nobody to route it to: it waits for staff, who hear of it as of a case without a route.
    to_staff = apply(start, Action.REASSIGN, SYSTEM)
    waiting = replace(start, status=S.UNASSIGNED, manager_id=None, escalation_level=0)
    assert to_staff == Transition(waiting, (E.REASSIGNED, E.UNROUTED))
    # Staff always name the new manager; the system's buttons are nobody's.
    assert apply(start, Action.REASSIGN, STAFF) == Refusal("refused.manager_missing")
    assert buttons_for(start, SYSTEM | STAFF, 7) == buttons_for(start, STAFF, 7)


@pytest.mark.parametrize("chain", [1, 2, 3, 4])
def test_escalation_climbs_to_the_top_of_the_chain_then_refuses(chain: int) -> None:
    state = CaseState(S.ASSIGNED, manager_id="m-1")
    for level in range(1, chain):
        result = apply(state, Action.ESCALATE, SYSTEM, chain_length=chain)
        assert result == Transition(replace(state, escalation_level=level), (E.ESCALATED,))
        state = result.state
    assert apply(state, Action.ESCALATE, SYSTEM, chain_length=chain) == Refusal("refused.chain_top")


def test_cancel_only_before_acknowledgement() -> None:
    for status in (S.UNASSIGNED, S.ASSIGNED):
        result = apply(CaseState(status), Action.CANCEL, RESIDENT)
        assert isinstance(result, Transition)
        assert result.state.status is S.CANCELLED
    refused = apply(CaseState(S.ACKNOWLEDGED), Action.CANCEL, RESIDENT)
    assert refused == Refusal("refused.wrong_status")
    assert apply(CaseState(S.RESOLVED), Action.CANCEL, RESIDENT) == refused
    # Back in "assigned" after a dissatisfied rating, or "unassigned" after being taken on and
    # declined: it was acknowledged once, so it can no longer be withdrawn.
    taken = apply(CaseState(S.ASSIGNED), Action.ACKNOWLEDGE, frozenset({R.ASSIGNEE}))
    assert isinstance(taken, Transition)
    assert taken.state.acknowledged
    resolved = apply(taken.state, Action.RESOLVE, frozenset({R.ASSIGNEE}))
    assert isinstance(resolved, Transition)
    reopened = apply(resolved.state, Action.RATE, RESIDENT, rating=Rating.DISSATISFIED)
    assert isinstance(reopened, Transition)
    assert reopened.state.status is S.ASSIGNED
    assert apply(reopened.state, Action.CANCEL, RESIDENT) == refused
    declined = apply(taken.state, Action.DECLINE, frozenset({R.ASSIGNEE}))
    assert isinstance(declined, Transition)
    assert apply(declined.state, Action.CANCEL, RESIDENT) == refused


def test_close_unrated_only_from_resolved_and_only_by_the_system() -> None:
    closed = apply(CaseState(S.RESOLVED), Action.CLOSE_UNRATED, SYSTEM)
    assert closed == Transition(CaseState(S.CLOSED), (E.CLOSED_UNRATED,))
    everyone_else = frozenset({R.RESIDENT, R.ASSIGNEE, R.CHAIN, R.STAFF})
    refused = apply(CaseState(S.RESOLVED), Action.CLOSE_UNRATED, everyone_else)
    assert refused == Refusal("refused.not_entitled")
    for status in set(Status) - {S.RESOLVED}:
        assert isinstance(apply(CaseState(status), Action.CLOSE_UNRATED, SYSTEM), Refusal)


def test_rating_codes() -> None:
    assert [Rating.from_code(c) for c in "123"] == list(Rating)
    assert [r.code for r in Rating] == ["1", "2", "3"]
    assert Rating.from_code("4") is None
    assert Rating.from_code("") is None


# --- callback data and buttons -------------------------------------------------------------------

BIG = 999_999_999_999  # a twelve-digit case number


@pytest.mark.parametrize("number", [1, 42, BIG])
def test_callback_data_round_trips(number: int) -> None:
    for action, verb in VERBS.items():
        data = encode(verb, number)
        assert data == f"{verb}:{number}"
        assert decode(data) == Press(action, number)
    for rating in Rating:
        data = encode("rate", number, rating.code)
        assert data == f"rate:{number}:{rating.code}"
        assert decode(data) == Press(Action.RATE, number, rating.code)


def test_contract_spellings_decode() -> None:
    assert decode("ack:7") == Press(Action.ACKNOWLEDGE, 7)
    assert decode("done:7") == Press(Action.RESOLVE, 7)
    assert decode("decline:7") == Press(Action.DECLINE, 7)
    assert decode("cancel:7") == Press(Action.CANCEL, 7)
    assert decode("rate:7:3") == Press(Action.RATE, 7, "3")


@pytest.mark.parametrize(
    "data",
    [
        "",
        "ack",
        "ack:",
        ":7",
        "ack:x",
        "ack:-1",
        "ack:1.5",
        "ACK:7",
        "ack:7 ",
        " ack:7",
        "ack:7\n",
        "ack::7",
        "ack:7:",
        "ack:7:a:b",
        "fly:7",
        "escalate:7",
        "rate:7",
        "rate:7:0",
        "rate:7:4",
        "rate:7:x",
        "ack:1234567890123456789",
        "ack:１２",
        "ack:٣",
        "ack:7:" + "x" * 41,
    ],
)
def test_malformed_callback_data_decodes_to_none(data: str) -> None:
    assert decode(data) is None


def test_encode_refuses_data_over_64_bytes() -> None:
    assert len(encode("reassign", BIG, "m" * 40)) <= MAX_DATA_BYTES
    with pytest.raises(ValueError, match="64"):
        encode("reassign", BIG, "m" * 60)


def _data(rows: list[list[Any]]) -> list[list[str]]:
    return [[b.data for b in row] for row in rows]


def test_every_button_fits_telegram_and_has_a_label_in_each_language() -> None:
    for status in Status:
        for relations in RELATION_SETS:
            for row in buttons_for(CaseState(status, manager_id="m-1"), relations, BIG):
                for button in row:
                    assert button.data.isascii()
                    assert len(button.data.encode()) <= MAX_DATA_BYTES
                    assert decode(button.data) is not None
                    for catalog in CATALOGS.values():
                        assert button.label in catalog


def test_assignee_and_supervisor_see_ack_done_decline_on_an_assigned_case() -> None:
    state = CaseState(S.ASSIGNED, manager_id="m-1")
    for relations in (frozenset({R.ASSIGNEE}), frozenset({R.CHAIN})):
        rows = buttons_for(state, relations, 7)
        assert _data(rows) == [["ack:7", "done:7", "decline:7"]]
        assert [b.label for b in rows[0]] == ["button.ack", "button.done", "button.decline"]
    acknowledged = replace(state, status=S.ACKNOWLEDGED)
    assert _data(buttons_for(acknowledged, frozenset({R.ASSIGNEE}), 7)) == [
        ["done:7", "decline:7"],
        ["ask:7"],  # once taken on, the holder may ask the reporter (a row of its own)
    ]


def test_resident_sees_three_rating_buttons_on_a_resolved_case() -> None:
    rows = buttons_for(CaseState(S.RESOLVED), RESIDENT, 7)
    assert _data(rows) == [["rate:7:1", "rate:7:2", "rate:7:3"]]
    assert [b.label for b in rows[0]] == ["button.rate.1", "button.rate.2", "button.rate.3"]


def test_resident_may_withdraw_only_before_acknowledgement() -> None:
    assert _data(buttons_for(CaseState(S.ASSIGNED), RESIDENT, 7)) == [["cancel:7"]]
    assert buttons_for(CaseState(S.ACKNOWLEDGED, acknowledged=True), RESIDENT, 7) == []
    reopened = CaseState(S.ASSIGNED, reopen_count=1, acknowledged=True)
    assert buttons_for(reopened, RESIDENT, 7) == []


def test_staff_see_reassign_reject_close() -> None:
    for status in (S.UNASSIGNED, S.ASSIGNED, S.ACKNOWLEDGED):
        rows = _data(buttons_for(CaseState(status), STAFF, 7))
        # Asking the reporter is offered on the card once the case is taken on.
        aside = [["ask:7"]] if status is S.ACKNOWLEDGED else []
        assert rows == [["reassign:7", "reject:7", "close:7"], *aside]
    assert _data(buttons_for(CaseState(S.RESOLVED), STAFF, 7)) == [["close:7"]]


@pytest.mark.parametrize("status", list(Status))
def test_strangers_the_system_and_ended_cases_get_no_buttons(status: Status) -> None:
    state = CaseState(status, manager_id="m-1")
    assert buttons_for(state, frozenset(), 7) == []
    assert buttons_for(state, SYSTEM, 7) == []
    if status in ENDED:
        for relations in RELATION_SETS:
            assert buttons_for(state, relations, 7) == []


def test_a_new_resolution_clears_the_earlier_dissatisfied_rating() -> None:
    reopened = CaseState(
        Status.ASSIGNED,
        reopen_count=1,
        rating=Rating.DISSATISFIED,
        manager_id="m-1",
        acknowledged=True,
    )
    result = apply(reopened, Action.RESOLVE, frozenset({R.ASSIGNEE}))
    assert isinstance(result, Transition)
    assert result.state.status is Status.RESOLVED
    assert result.state.rating is None
    assert result.state.reopen_count == 1


CITY = frozenset({R.CITY})


def test_the_city_reopens_to_whoever_held_it_and_its_verdict_goes() -> None:
    rated = CaseState(S.CLOSED, reopen_count=1, rating=Rating.SATISFIED, manager_id="m-1")
    result = apply(rated, Action.REOPEN, CITY)
    expected = replace(rated, status=S.ASSIGNED, reopen_count=2, rating=None)
    assert result == Transition(expected, (E.REOPENED,))
    # Closed by staff while nobody held it: back to staff, unassigned.
    unheld = apply(CaseState(S.CLOSED), Action.REOPEN, CITY)
    assert unheld == Transition(CaseState(S.UNASSIGNED, reopen_count=1), (E.REOPENED,))
    # The city's actions are no person's buttons.
    assert buttons_for(rated, CITY, 7) == []


def test_a_city_stands_as_its_key_and_acts_only_where_the_key_reaches() -> None:
    city = city_actor("chaoyang-12345")
    assert is_city(city)
    assert not is_city("liubo")
    assert not is_city(None)
    who = {"resident_id": "r-1", "manager_id": "m-1", "supervisors": (), "staff": ("s-1",)}
    assert relations_of(city, **who) == frozenset({Relation.CITY})
    assert relations_of("s-1", **who) == frozenset({Relation.STAFF})
    assert city_refusal(city, ["jzsj-south"], "jzsj-south") is None
    assert city_refusal(city, [], "bgy-north") is None  # a key for every community
    assert city_refusal(city, ["jzsj-south"], "bgy-north") == "refused.not_entitled"
    assert city_refusal(city, None, "jzsj-south") == "refused.not_entitled"  # revoked or gone
    assert city_refusal("liubo", None, "bgy-north") is None  # people are held by relations
