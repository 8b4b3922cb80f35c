"""To whom a case may be handed (``core.access``): an active manager or supervisor of its
community, or one a routing rule for it names — written out here person by person, not read back
from the code."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.access import handover_refusal, may_hold, routed_to
from core.routing import Route


@dataclass(frozen=True)
class Someone:
    id: str
    role: str
    community_id: str | None
    active: bool = True


ROUTES = (
    Route("north", "*", "mgr-north"),
    Route("south", "*", "mgr-south"),
    Route("south", "water-leak", "plumber"),  # a manager of no community, routed for south
    Route("*", "elevator", "lift-co"),  # a rule for every community
)
PEOPLE = {
    "mgr-south": Someone("mgr-south", "manager", "south"),
    "sup-south": Someone("sup-south", "supervisor", "south"),
    "mgr-north": Someone("mgr-north", "manager", "north"),
    "sup-north": Someone("sup-north", "supervisor", "north"),
    "plumber": Someone("plumber", "manager", None),
    "lift-co": Someone("lift-co", "supervisor", "elsewhere"),
    "staff-south": Someone("staff-south", "staff", "south"),
    "resident-south": Someone("resident-south", "resident", "south"),
    "gone-south": Someone("gone-south", "manager", "south", active=False),
    "floating": Someone("floating", "manager", None),
}
# For a case of "south": who may hold it, and why the others may not.
SOUTH: dict[str, str | None] = {
    "mgr-south": None,
    "sup-south": None,
    "plumber": None,  # routed for south (one category is enough)
    "lift-co": None,  # a "*" rule covers south too
    "mgr-north": "refused.not_eligible_manager",
    "sup-north": "refused.not_eligible_manager",
    "floating": "refused.not_eligible_manager",
    "staff-south": "refused.unknown_manager",  # staff do not hold cases
    "resident-south": "refused.unknown_manager",
    "gone-south": "refused.unknown_manager",  # left the directory
}


def test_the_table_names_everyone() -> None:
    assert set(SOUTH) == set(PEOPLE)


@pytest.mark.parametrize(("person", "reason"), sorted(SOUTH.items()))
def test_who_may_hold_a_case_of_south(person: str, reason: str | None) -> None:
    candidate = PEOPLE[person]
    assert handover_refusal(candidate, community="south", routes=ROUTES) == reason
    assert may_hold(candidate, community="south", routes=ROUTES) is (reason is None)


def test_the_other_community_sees_it_the_other_way_round() -> None:
    eligible = {p for p, c in PEOPLE.items() if may_hold(c, community="north", routes=ROUTES)}
    assert eligible == {"mgr-north", "sup-north", "lift-co"}


def test_nobody_is_a_refusal_of_its_own() -> None:
    assert handover_refusal(None, community="south", routes=ROUTES) == "refused.unknown_manager"


def test_the_system_follows_the_directory_but_still_needs_a_manager() -> None:
    # A directory load hands a leaver's case up their chain, wherever the file put that person.
    assert handover_refusal(PEOPLE["sup-north"], community="south", routes=ROUTES, system=True) is (
        None
    )
    for person in ("staff-south", "resident-south", "gone-south"):
        refused = handover_refusal(PEOPLE[person], community="south", routes=ROUTES, system=True)
        assert refused == "refused.unknown_manager", person


def test_routed_to_reads_only_the_rules_for_that_community() -> None:
    assert routed_to(ROUTES, "south") == {"mgr-south", "plumber", "lift-co"}
    assert routed_to(ROUTES, "north") == {"mgr-north", "lift-co"}
    assert routed_to((), "south") == frozenset()
