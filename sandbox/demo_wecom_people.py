"""The people of ``wolaiban demo --channels wecom``: staff, managers and supervisors as members of
the town's WeCom (企业微信) corp, residents writing to the community's WeChat customer-service
account (微信客服), and the directory they make."""

from __future__ import annotations

from typing import Any

from sandbox.demo import demo_directory

# The town's customer-service account, and the residents' ids on it (WeCom gives them out as
# "wm…", 32 characters; these are made up).
KFID = "wkChangyangWolaibanDemo000000001"
LI = "wmLiDaYe172ParcelsDemo0000000001"  # 李大爷 (r-jzsj-172): new on WeChat, asked everything
HE = "wmHeNvShi72WasteDemo000000000002"  # 何女士 (r-bgy-72): the directory knows her account
LV = "wmLvXianSheng5BenchDemo000000003"  # 吕先生 (r-yuanxiang-5): new on WeChat
RESIDENTS = {LI: "r-jzsj-172", HE: "r-bgy-72", LV: "r-yuanxiang-5"}
# Hours 何女士 is silent after she is told #2 is being redone: past WeChat's 48-hour window.
SILENT_HOURS = 49
# A case must not be overdue across that silence (the demo's other deadlines are seconds).
RESOLVE_WITHIN = "72h"


def userid_of(person_id: str) -> str:
    """A member's WeCom userid: their directory id (letters, digits and "-" WeCom takes)."""
    return person_id


def wecom_directory(language: str, *, fast: bool = True) -> dict[str, Any]:
    """The demo's directory with everyone who works on cases on WeCom instead of Telegram, and
    residents on WeChat; ``fast``: the stories' timings."""
    data = demo_directory(language, fast=fast)
    for person in data["people"]:
        on_telegram = person.pop("telegram_id", None) is not None
        if on_telegram and person["role"] != "resident":
            # core's name for a person's accounts on other channels (the file's wecom_userid)
            person["addresses"] = {"wecom": userid_of(person["id"])}
    # 何女士's WeChat account is named by the directory (as an operator who saw her write would
    # bind it), so that what WeChat may no longer send her can go by her phone.
    he = next(p for p in data["people"] if p["id"] == RESIDENTS[HE])
    he["addresses"] = {"wechat": HE}
    if fast:
        data["defaults"]["resolve_within"] = RESOLVE_WITHIN
    return data


def wecom_members(data: dict[str, Any]) -> list[str]:
    """The userids of the directory's WeCom members (the corp's members in the emulator)."""
    return [p["addresses"]["wecom"] for p in data["people"] if "wecom" in p.get("addresses", {})]


def resident_names(data: dict[str, Any]) -> dict[str, str]:
    """The stories' residents by their WeChat id, with their names."""
    names = {p["id"]: p["name"] for p in data["people"]}
    return {user: names[person_id] for user, person_id in RESIDENTS.items()}


def community_names(data: dict[str, Any], language: str) -> dict[str, str]:
    """The communities' names in ``language``, as the guided report's menus show them."""
    return {c["id"]: c["name"][language] for c in data["communities"]}
