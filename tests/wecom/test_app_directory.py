"""A person's WeCom userid in the directory file (``wecom_userid``): bound as their address on
the WeCom channel when the file is loaded, moved when the file changes it, and every mistake
named at the file's line in the file's own words."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from bot.directory_file import DirectoryFileError, read_directory
from bot.services.directory.load import load_directory
from bot.services.unit.context import ServiceContext
from db.models import Identity
from tests.test_directory_file import _write

BASE = """\
people:
  - {id: zhao, name: 赵主管, role: supervisor, wecom_userid: ZhaoZG}
  - {id: wang, name: 王经理, role: manager, supervisor: zhao, wecom_userid: wangjl}
  - {id: liubo, name: 刘博, role: staff, telegram_id: 1001}
communities:
  - {id: jzsj-south, name: 嘉州水郡南区社区, staff: [liubo]}
routing:
  - {community: jzsj-south, category: "*", manager: wang}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(DirectoryFileError) as caught:
        read_directory(_write(tmp_path, text))
    return [line.split(":", 1)[1] for line in caught.value.lines]  # without the file's name


async def _wecom(ctx: ServiceContext) -> dict[str, str]:
    async with ctx.db.reading() as session:
        rows = (await session.exec(select(Identity).where(Identity.channel == "wecom"))).all()
    return {row.person_id: row.address for row in rows}


async def test_the_file_binds_each_userid_to_its_person_on_wecom(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    await load_directory(ctx, read_directory(_write(tmp_path, BASE)))
    # WeCom's userids know no case (its API answers them lower-cased): kept lower-case
    assert await _wecom(ctx) == {"zhao": "zhaozg", "wang": "wangjl"}

    moved = BASE.replace("wecom_userid: wangjl", "wecom_userid: wang.jl")
    await load_directory(ctx, read_directory(_write(tmp_path, moved)))
    assert await _wecom(ctx) == {"zhao": "zhaozg", "wang": "wang.jl"}


async def test_a_userid_the_file_gives_someone_else_moves_to_them(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    await load_directory(ctx, read_directory(_write(tmp_path, BASE)))
    swapped = BASE.replace("wecom_userid: ZhaoZG", "wecom_userid: liu").replace(
        "telegram_id: 1001", "telegram_id: 1001, wecom_userid: zhaozg"
    )
    await load_directory(ctx, read_directory(_write(tmp_path, swapped)))
    assert await _wecom(ctx) == {"zhao": "liu", "wang": "wangjl", "liubo": "zhaozg"}


def test_two_people_with_one_userid_are_named_at_the_second(tmp_path: Path) -> None:
    text = BASE.replace("wecom_userid: ZhaoZG", "wecom_userid: WANGJL")
    assert _problems(tmp_path, text) == [
        "3: people[1].wecom_userid: duplicate account 'wangjl', already used by "
        "people[0].wecom_userid"
    ]


def test_a_userid_wecom_could_not_have_is_named_at_its_line(tmp_path: Path) -> None:
    text = BASE.replace("wecom_userid: wangjl", 'wecom_userid: "@all"')
    [problem] = _problems(tmp_path, text)
    assert problem.startswith("3: people[1].wecom_userid: bad account '@all'")
    number = BASE.replace("wecom_userid: wangjl", "wecom_userid: 10086")
    [problem] = _problems(tmp_path, number)
    assert problem.startswith("3: people[1].wecom_userid: bad account 10086")
    assert problem.endswith("(put it in quotes)")


def test_core_s_name_for_accounts_is_not_a_key_of_the_file(tmp_path: Path) -> None:
    text = BASE.replace("wecom_userid: wangjl", "addresses: {wecom: wangjl}")
    [problem] = _problems(tmp_path, text)
    assert problem.startswith("3: people[1].addresses: unknown key 'addresses'")
    assert "'wecom_userid'" in problem


def test_a_misspelt_key_is_told_the_file_s_keys(tmp_path: Path) -> None:
    text = BASE.replace("wecom_userid: wangjl", "wecom_user: wangjl")
    [problem] = _problems(tmp_path, text)
    assert "unknown key 'wecom_user'" in problem
    assert "addresses" not in problem
