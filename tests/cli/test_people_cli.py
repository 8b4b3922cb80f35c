"""``wolaiban people find | export [--json] | erase [--yes]`` (docs/reference.md §1) on a database
of its own on each backend: the commands as ``bot/cli/people.py`` declares them (its parser and
handlers), on the settings a real run reads; the data made through the real services."""

from __future__ import annotations

import argparse
import asyncio
import io
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels import BOOK
from bot.cli import people
from bot.cli.env import Env, Result
from bot.config import load_settings
from bot.services.talk import guided
from bot.services.unit.context import ServiceContext
from bot.services.unit.inbound import Inbound
from bot.sms.handler import InboundSms, handle_sms
from core.texts import render
from db.engine import open_database
from sandbox.harness import EXAMPLE
from tests.conftest import BACKENDS, POSTGRES_URL, Clock

from .conftest import Cli

T = TypeVar("T")
PHONE = "+8613812345670"
TO = "+8610690000003"


@dataclass
class People:
    """``wolaiban people …`` against the test's database, and the services on it."""

    url: str

    def __call__(self, *argv: str) -> Result:
        parser = argparse.ArgumentParser(prog="wolaiban")
        people.add_parser(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["people", *argv])
        handler = people.HANDLERS[f"people {args.people}"]
        return asyncio.run(handler(args, Env(load_settings())))

    def services(self, work: Callable[[ServiceContext], Coroutine[Any, Any, T]]) -> T:
        async def run() -> T:
            db = open_database(self.url)
            try:
                clock = Clock(datetime.now(UTC))
                return await work(ServiceContext(channels=BOOK, db=db, clock=clock))
            finally:
                await db.dispose()

        return asyncio.run(run())


async def _admin(statement: str) -> None:
    assert POSTGRES_URL
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def run(
    request: pytest.FixtureRequest, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> Iterator[People]:
    """The example directory loaded with ``wolaiban`` into a new database: the CLI's SQLite file,
    or a database of its own on the PostgreSQL server (upgraded with ``wolaiban db upgrade``)."""
    name = None
    url = cli.url
    if request.param == "postgres":
        assert POSTGRES_URL
        name = f"people_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        monkeypatch.setenv("DATABASE_URL", url)
        assert cli("db", "upgrade").code == 0
    try:
        done = cli("directory", "load", EXAMPLE)
        assert done.code == 0, done.err
        yield People(url)
    finally:
        if name is not None:
            asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _resident(ctx: ServiceContext) -> None:
    """A resident met by SMS with one case."""
    await handle_sms(ctx, InboundSms(f"SM{uuid.uuid4().hex}", PHONE, TO, "电梯坏了 138 1234 5670"))


def _say(key: str, **params: Any) -> str:
    return render("zh", key, **params)


def test_find_reads_a_phone_in_any_form_and_says_when_no_one_matches(run: People) -> None:
    run.services(_resident)
    for query in (PHONE, "138 1234 5670", "138-1234-5670", "8613812345670"):
        found = run("find", query)
        assert found.code == 0, found.text
        assert f"sms-{PHONE}" in found.text
        assert f"sms:{PHONE}" in found.text
    missing = run("find", "+8613812349999")
    assert (missing.code, missing.text) == (1, _say("people.none", query="+8613812349999"))


def test_export_json_holds_their_cases_and_text_says_how_much(run: People) -> None:
    run.services(_resident)
    held = run("export", "13812345670", "--json")
    assert held.code == 0
    assert held.json["person"]["id"] == f"sms-{PHONE}"
    assert [c["description"] for c in held.json["cases"]] == ["电梯坏了 138 1234 5670"]
    told = run("export", "13812345670")
    assert told.code == 0
    assert told.json is None
    assert f"sms-{PHONE}" in told.text
    assert "--json" in told.text


def test_erase_needs_yes_where_no_one_can_answer(run: People) -> None:
    run.services(_resident)
    refused = run("erase", PHONE)
    assert refused.code == 1
    assert refused.text == _say("people.needs_yes", person=f"sms-{PHONE}", name=PHONE)
    assert run("find", PHONE).code == 0  # nothing was erased


def test_erase_asks_at_a_terminal(run: People, monkeypatch: pytest.MonkeyPatch) -> None:
    run.services(_resident)
    monkeypatch.setattr("sys.stdin", _Terminal("no\n"))
    assert run("erase", PHONE).code == 1
    assert run("find", PHONE).code == 0
    monkeypatch.setattr("sys.stdin", _Terminal("yes\n"))
    assert run("erase", PHONE).code == 0
    assert run("find", PHONE).code == 1


def test_erase_yes_erases_and_the_person_is_found_no_more(run: People) -> None:
    run.services(_resident)
    done = run("erase", "138 1234 5670", "--yes")
    assert done.code == 0, done.text
    new = next(word for word in done.text.split() if word.startswith("erased-"))
    assert run("find", PHONE).code == 1
    found = run("find", new.rstrip("。.；;,，"))
    assert found.code == 0
    assert "erased" in found.text
    assert PHONE not in str(run("export", new.rstrip("。.；;,，"), "--json").json)


def test_the_directory_people_are_refused_and_a_query_must_name_one_person(run: People) -> None:
    listed = run("erase", "+8613900000001", "--yes")  # 李大爷, a resident the directory lists
    assert listed.code == 1
    assert listed.text == _say("people.listed", person="r-jzsj-172", name="李大爷")
    run.services(_resident)

    async def chat(ctx: ServiceContext) -> None:
        # A chat whose id is the phone's national digits: one query, two people.
        await guided.begin_report(ctx, Inbound("telegram", "u1", address="13812345670", name="A"))

    run.services(chat)
    many = run("erase", "13812345670", "--yes")
    assert many.code == 1
    assert many.text == _say(
        "people.many", query="13812345670", count=2, ids=f"sms-{PHONE}, tg-13812345670"
    )


class _Terminal(io.StringIO):
    """Standard input at a terminal, with the operator's answer typed in."""

    def isatty(self) -> bool:
        return True
