"""Who gets a case: routing rules (first match wins, ``*`` matches any) and the escalation chain."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

ANY = "*"


@dataclass(frozen=True, slots=True)
class Route:
    """One routing rule: cases of ``category`` in ``community`` go to ``manager_id``."""

    community: str
    category: str
    manager_id: str

    def matches(self, community: str, category: str) -> bool:
        """True when this rule covers the (community, category) pair."""
        return self.community in (ANY, community) and self.category in (ANY, category)


def route(rules: Iterable[Route], *, community: str, category: str) -> str | None:
    """The manager of the first rule that matches, or None (the case waits for staff)."""
    return next((r.manager_id for r in rules if r.matches(community, category)), None)


def holders_at_level(
    level: int,
    chain: Sequence[str],
    *,
    manager_id: str | None,
    supervisors: Sequence[str],
    staff: Sequence[str],
) -> list[str]:
    """Who holds a case at escalation ``level`` of ``chain`` (e.g. manager, supervisor, staff).

    A level with nobody to hold it (a manager without supervisor) falls through to the next.
    """
    by_role: dict[str, list[str]] = {
        "manager": [manager_id] if manager_id else [],
        "supervisor": list(supervisors[:1]),
        "staff": list(staff),
    }
    for role in chain[max(level, 0) :]:
        if by_role.get(role):
            return by_role[role]
    return list(staff)


def successor(
    rules: Iterable[Route],
    *,
    community: str,
    category: str,
    leaving: str,
    managers: Collection[str],
    supervisor_of: Mapping[str, str | None],
) -> str | None:
    """Who takes a case over from ``leaving``: the routed manager when they still manage, else the
    nearest supervisor above ``leaving`` who does; None when nobody does (the community's staff).
    """
    routed = route(rules, community=community, category=category)
    if routed is not None and routed != leaving and routed in managers:
        return routed
    seen = {leaving}
    above = supervisor_of.get(leaving)
    while above is not None and above not in seen:  # a loop in the file is cut at its repeat
        if above in managers:
            return above
        seen.add(above)
        above = supervisor_of.get(above)
    return None
