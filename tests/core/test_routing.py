"""Who takes over the cases of someone who left: the new route, else up their chain, else staff."""

from __future__ import annotations

from core.routing import Route, successor

RULES = [Route("south", "water", "m-water"), Route("south", "*", "m-south")]
CHAIN = {"m-old": "s-1", "s-1": "s-2", "s-2": None, "m-south": "s-1"}


def test_the_new_route_takes_it_when_its_manager_still_manages() -> None:
    found = successor(
        RULES,
        community="south",
        category="parcels",
        leaving="m-old",
        managers={"m-south", "s-1"},
        supervisor_of=CHAIN,
    )
    assert found == "m-south"


def test_else_the_nearest_supervisor_who_still_manages() -> None:
    # The route still names the leaver (the file kept the rule): up the chain instead.
    rules = [Route("south", "*", "m-old")]
    common = {"community": "south", "category": "parcels", "leaving": "m-old"}
    assert successor(rules, **common, managers={"s-1", "s-2"}, supervisor_of=CHAIN) == "s-1"
    assert successor(rules, **common, managers={"s-2"}, supervisor_of=CHAIN) == "s-2"
    # No route at all, nobody above: the community's staff.
    assert successor([], **common, managers=set(), supervisor_of=CHAIN) is None


def test_a_loop_of_supervisors_ends() -> None:
    loop = {"m-old": "s-1", "s-1": "s-2", "s-2": "s-1"}
    found = successor(
        [], community="north", category="x", leaving="m-old", managers=set(), supervisor_of=loop
    )
    assert found is None
