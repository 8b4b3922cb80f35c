"""Who may act on a case: an actor's relations to it, worked out from plain facts."""

from __future__ import annotations

from collections.abc import Collection

from core.cases import Relation


def relations_of(
    actor_id: str | None,
    *,
    system: bool = False,
    resident_id: str,
    manager_id: str | None,
    supervisors: Collection[str],
    staff: Collection[str],
) -> frozenset[Relation]:
    """The relations ``actor_id`` has to a case; empty for a stranger or an inactive person."""
    if system:
        return frozenset({Relation.SYSTEM})
    if actor_id is None:
        return frozenset()
    found: set[Relation] = set()
    if actor_id == resident_id:
        found.add(Relation.RESIDENT)
    if manager_id is not None and actor_id == manager_id:
        found.add(Relation.ASSIGNEE)
    if actor_id in supervisors:
        found.add(Relation.CHAIN)
    if actor_id in staff:
        found.add(Relation.STAFF)
    return frozenset(found)


CONSOLE_ROLES = frozenset({"staff", "manager", "supervisor"})


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
