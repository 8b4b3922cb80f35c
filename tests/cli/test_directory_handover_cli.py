"""``directory check`` says which open cases a load would hand on, read only; ``directory load``
says which it handed on (issue 12, part 4)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.services.cases.report import NewReport, report
from core.cases import Channel
from tests.conftest import EXAMPLE, Clock

from .conftest import Cli


def _without_wang(folder: Path) -> Path:
    """The example without 王经理, jzsj-south's cases routed to 郑经理 instead."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["people"] = [p for p in data["people"] if p["id"] != "mgr-jzsj-south"]
    for rule in data["routing"]:
        if rule["manager"] == "mgr-jzsj-south":
            rule["manager"] = "mgr-bgy-north"
    path = folder / "left.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_check_and_load_say_who_takes_a_leavers_cases(
    loaded_cli: Cli, clock: Clock, tmp_path: Path
) -> None:
    cli = loaded_cli
    new = NewReport("jzsj-south", "parcels", "快递堆在马路上", location="172号楼")
    case = cli.services(
        clock,
        lambda ctx: report(ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=new),
    )
    path = _without_wang(tmp_path)
    before = cli.tables()

    checked = cli("directory", "check", path)
    assert checked.code == 0, checked.err
    assert checked.out.splitlines()[-1] == (
        f"载入后将转交未结诉求 1 件（原负责人将停用）：#{case.number} 王经理 → 郑经理"
    )
    assert cli.tables() == before  # a check writes nothing

    loaded = cli("directory", "load", path)
    assert loaded.code == 0, loaded.err
    assert loaded.out.splitlines() == [
        f"{path}：已载入（新增 0，更新 0，停用 1，删除 0）。",
        f"转交未结诉求 1 件（原负责人已停用）：#{case.number} 王经理 → 郑经理",
    ]
    shown = cli.json("cases", "show", str(case.number))
    assert shown["manager"] == "mgr-bgy-north"
    assert shown["events"][-1]["kind"] == "reassigned"
    assert shown["events"][-1]["actor"] in (None, "system")
    assert "王经理" in shown["events"][-1]["note"]
    # checked again afterwards: nothing is left to move
    assert "转交" not in cli("directory", "check", path).out
