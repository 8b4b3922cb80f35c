"""Who may act on a case, and to whom it may be handed: an actor's relations to it and a holder's
eligibility for its community, and who may merge one case into another — from plain facts."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

from core.cases import Relation, Status
from core.routing import ANY, Route


def relations_of(
    actor_id: str | None,
    *,
    system: bool = False,
    resident_id: str,
    manager_id: str | None,
    supervisors: Collection[str],
    staff: Collection[str],
    followers: Collection[str] = (),
) -> frozenset[Relation]:
    """The relations ``actor_id`` has to a case; empty for a stranger or an inactive person."""
    if system:
        return frozenset({Relation.SYSTEM})
    if actor_id is None:
        return frozenset()
    if is_city(actor_id):
        # Which communities the key covers is checked by the use case (``city_refusal``).
        return frozenset({Relation.CITY})
    found: set[Relation] = set()
    if actor_id == resident_id:
        found.add(Relation.RESIDENT)
    if manager_id is not None and actor_id == manager_id:
        found.add(Relation.ASSIGNEE)
    if actor_id in supervisors:
        found.add(Relation.CHAIN)
    if actor_id in staff:
        found.add(Relation.STAFF)
    if actor_id in followers:
        found.add(Relation.FOLLOWER)
    return frozenset(found)


# A city system acts as its Open311 key: ``open311:<key name>``. No person's id holds a colon
# (directory ids are letters, digits, ``-``/``_``/``.``; residents met on a channel get generated
# ones), so nobody else can stand in this relation.
CITY_PREFIX = "open311:"


def city_actor(key_name: str) -> str:
    """The actor id of the city system holding Open311 key ``key_name``."""
    return CITY_PREFIX + key_name


def is_city(actor_id: str | None) -> bool:
    """True when ``actor_id`` names a city system (an Open311 key), not a person."""
    return actor_id is not None and actor_id.startswith(CITY_PREFIX)


def city_refusal(
    actor_id: str | None, key_communities: Collection[str] | None, community: str
) -> str | None:
    """Why ``actor_id``, a city whose key covers ``key_communities`` (empty: every community;
    None: no valid key by that name any more), may not act on a case of ``community`` (a
    text-catalog key), or None when it may — and always None for anyone but a city."""
    if not is_city(actor_id):
        return None
    if key_communities is None or (key_communities and community not in key_communities):
        return "refused.not_entitled"
    return None


CONSOLE_ROLES = frozenset({"staff", "manager", "supervisor"})
MANAGING_ROLES = frozenset({"manager", "supervisor"})


class Candidate(Protocol):
    """A person a case might be handed to, as far as the rule needs to know them."""

    @property
    def id(self) -> str: ...  # the person's id

    @property
    def role(self) -> str: ...  # resident, manager, supervisor or staff

    @property
    def active(self) -> bool: ...  # still in the directory

    @property
    def community_id(self) -> str | None: ...  # the community the file puts them in


def routed_to(routes: Iterable[Route], community: str) -> frozenset[str]:
    """Who the routing rules for ``community`` name (a ``*`` rule names them for every one)."""
    return frozenset(r.manager_id for r in routes if r.community in (ANY, community))


def may_hold(candidate: Candidate, *, community: str, routes: Iterable[Route]) -> bool:
    """Whether a case of ``community`` may be handed to ``candidate``: an active manager or
    supervisor of that community, or one a routing rule for it names. Handing a case to anyone
    else would let staff give it — and with it the right to read and act on it — to another
    community's people."""
    if not candidate.active or candidate.role not in MANAGING_ROLES:
        return False
    return candidate.community_id == community or candidate.id in routed_to(routes, community)


def handover_refusal(
    candidate: Candidate | None,
    *,
    community: str,
    routes: Iterable[Route],
    system: bool = False,
) -> str | None:
    """Why a case of ``community`` may not be handed to ``candidate`` (a text-catalog key), or
    None when it may. The system (a directory load handing on a leaver's cases) follows the
    directory's own routes and chains, so only the first condition holds it."""
    if candidate is None or not candidate.active or candidate.role not in MANAGING_ROLES:
        return "refused.unknown_manager"
    if system or may_hold(candidate, community=community, routes=routes):
        return None
    return "refused.not_eligible_manager"


def may_use_console(role: str, *, active: bool = True) -> bool:
    """Staff, managers and supervisors sign in to the staff console; residents never."""
    return active and role in CONSOLE_ROLES


def console_sees(role: str, relations: Collection[Relation], *, acted: bool) -> bool:
    """Whether a console reader sees a case: staff the cases of their communities; managers and
    supervisors the cases they hold (or that climbed to them) or held (acted on before)."""
    if role == "staff":
        return Relation.STAFF in relations
    if role in ("manager", "supervisor"):
        return bool({Relation.ASSIGNEE, Relation.CHAIN} & set(relations)) or acted
    return False


def merge_refusal(
    duplicate: Status,
    original: Status | None,
    relations: frozenset[Relation],
    *,
    same_case: bool,
    same_community: bool,
) -> str | None:
    """Why staff may not merge a case in ``duplicate`` status into one in ``original`` status (None:
    no such case), or None when they may: the reason is a text-catalog key."""
    if Relation.STAFF not in relations:
        return "refused.not_entitled"
    if same_case:
        return "refused.merge_self"
    if original is None:
        return "refused.unknown_original"
    if not same_community:
        return "refused.merge_other_community"
    if not original.is_open:
        return "refused.merge_into_closed"
    if not duplicate.is_open:
        return "refused.closed"
    return None


def unmerge_refusal(
    merged_into: int | None, original: Status | None, relations: frozenset[Relation]
) -> str | None:
    """Why staff may not undo a merge (the case was merged into ``merged_into``, which is now in
    ``original`` status), or None: a merge is undone only while the case it went into is open."""
    if Relation.STAFF not in relations:
        return "refused.not_entitled"
    if merged_into is None:
        return "refused.not_merged"
    if original is None or not original.is_open:
        return "refused.unmerge_closed"
    return None
