"""``cases list --json`` streamed (issue 26): the same bytes as the whole list printed at once,
read oldest first in bounded batches that neither repeat nor skip a case, on either database."""

from __future__ import annotations

import json

from bot.cli.commands import _printable
from bot.services.cases.report import NewReport, report
from bot.services.staff import views
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from core.clean import printable
from tests.cli.conftest import Cli, Scenario
from tests.conftest import Clock


def test_the_streamed_list_prints_what_the_whole_list_printed(cli: Cli, scenario: Scenario) -> None:
    for argv in ([], ["--status", "closed"], ["--community", "bgy-north"], ["--limit", "3"]):
        done = cli("cases", "list", *argv, "--json")
        assert done.code == 0, done.err
        # What bot.cli.main printed for a whole list before: the same text, byte for byte.
        whole = printable(json.dumps(json.loads(done.out), ensure_ascii=False, indent=2))
        assert done.out == whole + "\n"
    nothing = cli("cases", "list", "--community", "nowhere", "--json")
    assert nothing.out == "[]\n"


def test_the_terminal_escaping_is_the_same_for_every_character() -> None:
    text = "".join(chr(c) for c in range(0xD800)) + "".join(chr(c) for c in range(0xE000, 0x10000))
    for start in range(0, len(text), 512):
        chunk = text[start : start + 512]
        assert _printable(chunk) == printable(chunk)


async def test_the_cases_come_in_bounded_batches_each_once(
    loaded: ServiceContext, clock: Clock
) -> None:
    made = []
    for i in range(8):
        new = NewReport("jzsj-south", "parcels", f"快递第{i}件", location="172号楼")
        case = await report(loaded, resident_id="r-jzsj-172", channel=Channel.SMS, new=new)
        made.append(case.number)
    batches = [b async for b in views.case_batches(loaded, statuses=None, batch=3)]
    assert [len(b) for b in batches] == [3, 3, 2]  # never more than three held at once
    assert [c["number"] for b in batches for c in b] == made  # oldest first, none twice
    whole = await views.list_cases(loaded, statuses=None)
    assert [c for b in batches for c in b] == whole
    limited = [b async for b in views.case_batches(loaded, statuses=None, limit=4, batch=3)]
    assert [[c["number"] for c in b] for b in limited] == [made[:3], made[3:4]]
