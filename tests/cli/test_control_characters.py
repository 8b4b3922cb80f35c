"""The command line never writes a control character from stored text to a terminal (issue 12,
part 3): rows as an older release may have stored them, inserted directly."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import datetime, timedelta

from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from tests.conftest import Clock

from .conftest import SHANGHAI, Cli, local

HOSTILE = "3号楼\x00\x01\x1b[31m门口\u202e反\u200b\x9b2J"


def _unsafe(out: str) -> list[str]:
    allowed = "\n\t"
    bad = ("Cc", "Cs", "Cf", "Zl", "Zp")
    return [ch for ch in out if ch not in allowed and unicodedata.category(ch) in bad]


def test_stored_control_characters_are_never_printed(loaded_cli: Cli) -> None:
    cli = loaded_cli
    clock = Clock(local(datetime.now(SHANGHAI).date() - timedelta(days=1), 10, 0))
    new = NewReport("jzsj-south", "parcels", "快递堆在路上", location="172号楼")

    async def work(ctx: ServiceContext) -> None:
        await report(ctx, resident_id="r-jzsj-172", channel=Channel.TELEGRAM, new=new)

    cli.services(clock, work)
    with sqlite3.connect(cli.path) as conn:
        conn.execute("UPDATE cases SET description = ?, location = ?", (HOSTILE, HOSTILE))
        conn.execute("UPDATE outbox SET text = ?, address = ?", (HOSTILE, "\x1b]0;x\x07"))
    for argv in (("cases", "list"), ("cases", "show", "1"), ("outbox",)):
        done = cli(*argv)
        assert done.code == 0, done.err
        assert _unsafe(done.out) == [], argv
        assert _unsafe(done.err) == [], argv
    shown = cli("cases", "show", "1").out
    assert "\\u001b[31m" in shown  # escaped, so the operator sees what is stored
    # JSON stays JSON, with the stored value intact for whoever reads it
    assert cli.json("cases", "show", "1")["description"] == HOSTILE
    [row] = [r for r in cli.json("outbox") if r["template"] == "case.card"]
    assert row["address"] == "\x1b]0;x\x07"
    for argv in (("cases", "list", "--json"), ("outbox", "--json")):
        assert _unsafe(cli(*argv).out) == [], argv
