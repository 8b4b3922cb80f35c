"""A district's directory for the tests of the district office's console (issue 26): the example
town plus ``extra`` communities ``c000``… (第N社区 / Community N), each with its staff member,
manager (经理N) and supervisor and a route; two more communities sharing one name (双子社区);
a district office (区网格中心) on the staff of every community, and one staff member of two."""

from __future__ import annotations

from typing import Any

import yaml

from bot.services.cases.report import NewReport, report
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from core.directory_checks import validate_directory
from sandbox.harness import EXAMPLE

DISTRICT = "district-office"  # staff of every community
PAIR = "pair-staff"  # staff of two: c001 and c002
TWINS = ("twin-a", "twin-b")  # two communities named alike
RESIDENT = "r-jzsj-172"  # the example's; reports made for any community name them


def district_data(extra: int) -> dict[str, Any]:
    """The directory's data (as a file would hold it)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for n in range(extra):
        cid = f"c{n:03d}"
        data["people"] += [
            {"id": f"staff-{cid}", "name": f"社工{n}", "role": "staff", "community": cid},
            {"id": f"sup-{cid}", "name": f"主管{n}", "role": "supervisor", "community": cid},
            {
                "id": f"mgr-{cid}",
                "name": f"经理{n}",
                "role": "manager",
                "community": cid,
                "supervisor": f"sup-{cid}",
            },
        ]
        data["communities"].append(
            {
                "id": cid,
                "name": {"zh": f"第{n}社区", "en": f"Community {n}"},
                "staff": [f"staff-{cid}"],
                "buildings": ["1", "2"],
            }
        )
        data["routing"].append({"community": cid, "category": "*", "manager": f"mgr-{cid}"})
    for twin in TWINS:
        data["communities"].append(
            {"id": twin, "name": {"zh": "双子社区", "en": "Twins"}, "staff": [], "buildings": ["1"]}
        )
    data["people"] += [
        {"id": DISTRICT, "name": "区网格中心", "role": "staff", "community": "jzsj-south"},
        {"id": PAIR, "name": "两社区社工", "role": "staff", "community": "c001"},
    ]
    for community in data["communities"]:
        community["staff"].append(DISTRICT)
        if community["id"] in ("c001", "c002"):
            community["staff"].append(PAIR)
    return data


async def load_district(ctx: ServiceContext, extra: int = 300) -> None:
    """Load the district's directory into ``ctx``'s database."""
    checked = validate_directory(district_data(extra))
    assert not isinstance(checked, list), checked[:3]
    await load_directory(ctx, checked)


async def reported(ctx: ServiceContext, community: str, text: str) -> int:
    """A case reported by SMS in ``community``: its number."""
    new = NewReport(community, "parcels", text)
    number = (await report(ctx, resident_id=RESIDENT, channel=Channel.SMS, new=new)).number
    assert number is not None
    return number
