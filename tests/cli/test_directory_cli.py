"""``wolaiban directory load|check FILE`` (docs/reference.md §3): idempotent, and all or nothing.

Each bad file is the example with one line spoiled; loading it after the example must print one
line ``file:line: field: message``, exit 2, and leave every table as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.directory_file import read_directory
from tests.conftest import EXAMPLE

from .conftest import Cli

TEXT = EXAMPLE.read_text(encoding="utf-8")
DIRECTORY = read_directory(EXAMPLE)
PEOPLE = [p.id for p in DIRECTORY.people]


@dataclass(frozen=True)
class Spoil:
    """Replace ``old`` (found once in the example) by ``new``; expect ``field`` on the line that
    contains ``marker`` (in the spoiled text), and ``says`` somewhere in the message."""

    old: str
    new: str
    field: str
    marker: str
    says: str

    def write(self, folder: Path) -> tuple[Path, int]:
        """The spoiled file, and the line the problem must be reported on."""
        assert TEXT.count(self.old) == 1, self.old  # a typo here must not test the example
        text = TEXT.replace(self.old, self.new)
        lines = [n for n, line in enumerate(text.splitlines(), 1) if self.marker in line]
        assert len(lines) == 1, self.marker
        path = folder / "spoiled.yaml"
        path.write_text(text, encoding="utf-8")
        return path, lines[0]


SUPERVISED = PEOPLE.index("mgr-yunwan")
ROUTE = [r.community for r in DIRECTORY.routing].index("yunwan")
BAD = {
    "bad yaml": Spoil(
        "  escalate_after: 2 ",
        "  escalate_after: 2: 3 ",
        "yaml",
        "escalate_after: 2: 3",
        "mapping values",
    ),
    "unclosed bracket": Spoil(
        "    staff: [lina]", "    staff: [lina", "yaml", "  - id: lingfeng", "flow sequence"
    ),
    "unknown supervisor": Spoil(
        "supervisor: sup-yunwan,",
        "supervisor: sup-nowhere,",
        f"people[{SUPERVISED}].supervisor",
        "sup-nowhere",
        "'sup-nowhere'",
    ),
    "duration 1.5h": Spoil(
        "  ack_within: 30m ",
        "  ack_within: 1.5h ",
        "defaults.ack_within",
        "ack_within: 1.5h",
        "1.5h",
    ),
    "duration -1m": Spoil(
        "  ack_within: 30m ", "  ack_within: -1m ", "defaults.ack_within", "ack_within: -1m", "-1m"
    ),
    "duration 5x": Spoil(
        "  ack_within: 30m ", "  ack_within: 5x ", "defaults.ack_within", "ack_within: 5x", "5x"
    ),
    "duplicate person id": Spoil(
        "  # --- property supervisors",
        "  - {id: lina, name: 李娜二, role: staff}\n  # --- property supervisors",
        f"people[{PEOPLE.index('wangfang') + 1}].id",
        "李娜二",
        "'lina'",
    ),
    "route to a missing community": Spoil(
        '  - {community: yunwan, category: "*", manager: mgr-yunwan}',
        '  - {community: yunwan-west, category: "*", manager: mgr-yunwan}',
        f"routing[{ROUTE}].community",
        "yunwan-west",
        "'yunwan-west'",
    ),
}


def test_loading_the_example_twice_changes_nothing(cli: Cli) -> None:
    first = cli("directory", "load", EXAMPLE)
    assert first.code == 0, first.err
    assert "没有变化" not in first.out
    assert f"新增 {len(PEOPLE) + 6 + len(DIRECTORY.categories)}" in first.out
    after_first = cli.tables()
    assert len(after_first["person"]) == len(PEOPLE)
    assert len(after_first["community"]) == 6
    assert len(after_first["routing_rule"]) == len(DIRECTORY.routing)

    second = cli("directory", "load", EXAMPLE)
    assert second.code == 0, second.err
    assert second.out.strip() == f"{EXAMPLE}：已载入，没有变化。"
    assert cli.tables() == after_first


def test_check_validates_without_a_database(cli: Cli) -> None:
    done = cli("directory", "check", EXAMPLE)
    assert done.code == 0, done.err
    assert "6 个社区" in done.out
    assert f"{len(PEOPLE)} 人" in done.out
    assert not cli.path.exists()


@pytest.mark.parametrize("spoil", BAD.values(), ids=BAD.keys())
def test_a_bad_file_is_one_located_line_and_loads_nothing(
    loaded_cli: Cli, tmp_path: Path, spoil: Spoil
) -> None:
    cli = loaded_cli
    before = cli.tables()
    path, line = spoil.write(tmp_path)
    for command in ("check", "load"):
        done = cli("directory", command, path)
        assert done.code == 2, done.out
        assert done.out == ""
        assert len(done.err_lines) == 1, done.err
        assert done.err_lines[0].startswith(f"{path}:{line}: {spoil.field}: "), done.err
        assert spoil.says in done.err_lines[0]
    assert cli.tables() == before


def test_the_unclosed_bracket_names_where_it_opened(loaded_cli: Cli, tmp_path: Path) -> None:
    path, _ = BAD["unclosed bracket"].write(tmp_path)
    opened = TEXT.splitlines().index("    staff: [lina]") + 1
    assert f"starts on line {opened}" in loaded_cli("directory", "load", path).err


def test_a_missing_file(loaded_cli: Cli, tmp_path: Path) -> None:
    before = loaded_cli.tables()
    done = loaded_cli("directory", "load", tmp_path / "nope.yaml")
    assert done.code == 2
    assert done.err_lines == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert loaded_cli.tables() == before


def test_an_edited_file_reports_what_changed(loaded_cli: Cli, tmp_path: Path) -> None:
    edited = TEXT.replace("name: {zh: 云湾家园社区, en: Yunwan Homes}", "name: 云湾家园")
    edited = edited.replace(
        '  - {id: r-lingfeng-1, name: 张阿姨, role: resident, phone: "+8613900000004",\n'
        "     language: zh, community: lingfeng}\n",
        "",
    )
    assert edited.count("\n") == TEXT.count("\n") - 2  # both edits took
    path = tmp_path / "edited.yaml"
    path.write_text(edited, encoding="utf-8")
    done = loaded_cli("directory", "load", path)
    assert done.code == 0, done.err
    # the community renamed, the resident without cases deleted
    assert done.out.strip() == f"{path}：已载入（新增 0，更新 1，停用 0，删除 1）。"
    names = {row[0]: row[1] for row in loaded_cli.tables()["community"]}
    assert names["yunwan"] == "云湾家园"
