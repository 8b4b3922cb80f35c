"""GET services and a service's definition: one service per category, and the attributes a
request may carry (the community, as a single-value list; the building, where communities list
their buildings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.texts import render as say
from db.directory_cache import DirectorySnapshot
from db.models import Category, Community

from .describe import name_of

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


def services(categories: Sequence[Category], language: str) -> list[dict[str, Any]]:
    """The service list: every category a resident may choose, in the directory's order."""
    group = say(language, "open311.group")
    return [
        {
            "service_code": c.id,
            "service_name": name_of(c, language, c.id),
            "description": say(
                language, "open311.service_description", name=name_of(c, language, c.id)
            ),
            "metadata": True,  # every service has its attributes: the community at least
            "type": "realtime",
            "keywords": ", ".join(k for k in c.keywords if k.strip()),
            "group": group,
        }
        for c in categories
    ]


def definition(
    category: Category, communities: Sequence[Community], language: str, *, chosen: bool
) -> dict[str, Any]:
    """The definition of ``category`` for these ``communities`` (``chosen``: the client named
    one with ``jurisdiction_id``, so ``community`` need not be sent again)."""
    attributes: list[dict[str, Any]] = [
        {
            "variable": True,
            "code": "community",
            "datatype": "singlevaluelist",
            "required": not chosen and len(communities) > 1,
            "datatype_description": None,
            "order": 1,
            "description": say(language, "open311.attr.community"),
            "values": [{"key": c.id, "name": name_of(c, language, c.id)} for c in communities],
        }
    ]
    buildings: dict[str, list[str]] = {}
    for community in communities:
        for building in community.buildings:
            buildings.setdefault(building, []).append(name_of(community, language, community.id))
    if buildings:
        several = len(communities) > 1
        attributes.append(
            {
                "variable": True,
                "code": "building",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": say(language, "open311.attr.building"),
                "values": [
                    {"key": b, "name": f"{b} ({', '.join(names)})" if several else b}
                    for b, names in buildings.items()
                ],
            }
        )
    return {"service_code": category.id, "attributes": attributes}


def discovery(url: str, language: str, changeset: str) -> dict[str, Any]:
    """The service discovery document: this one endpoint, in both formats."""
    return {
        "changeset": changeset,
        "contact": say(language, "open311.contact"),
        "key_service": say(language, "open311.key_service"),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def usable_communities(
    snapshot: DirectorySnapshot, allowed: Sequence[str] | None
) -> list[Community]:
    """The active communities a key may use (``allowed`` None or empty: all)."""
    return [c for c in snapshot.active_communities() if not allowed or c.id in allowed]
