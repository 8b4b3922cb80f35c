"""``wolaiban apikey create NAME [--community ID]…`` prints a key once and keeps only its hash;
``apikey list`` shows names and scopes, never a key; ``apikey revoke NAME`` stops a key."""

from __future__ import annotations

import asyncio
import hashlib

from bot.channels import BOOK
from bot.open311 import keys
from bot.services.unit.context import ServiceContext
from db.engine import open_database
from tests.cli.conftest import Cli


def _check(cli: Cli, raw: str) -> object:
    async def run() -> object:
        db = open_database(cli.url)
        try:
            return await keys.check_key(ServiceContext(channels=BOOK, db=db), raw)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_create_list_revoke(loaded_cli: Cli) -> None:
    done = loaded_cli("apikey", "create", "beijing-12345", "--community", "jzsj-south")
    assert done.code == 0, done.err
    raw = done.out.strip().splitlines()[-1]
    assert raw.startswith("o311_")
    assert len(raw) > 40
    assert "jzsj-south" in done.out
    tables = loaded_cli.tables()
    stored = str(tables["open311_key"])
    assert raw not in stored  # only the hash is kept
    assert hashlib.sha256(raw.encode()).hexdigest() in stored
    found = _check(loaded_cli, raw)
    assert isinstance(found, keys.Key)
    assert found.communities == ("jzsj-south",)

    listed = loaded_cli.json("apikey", "list")
    assert [(k["name"], k["communities"], k["revoked_at"]) for k in listed] == [
        ("beijing-12345", ["jzsj-south"], None)
    ]
    table = loaded_cli("apikey", "list")
    assert "beijing-12345" in table.out
    assert raw not in table.out

    done = loaded_cli("apikey", "revoke", "beijing-12345")
    assert done.code == 0, done.err
    assert not isinstance(_check(loaded_cli, raw), keys.Key)
    assert loaded_cli.json("apikey", "list")[0]["revoked_at"].endswith("+08:00")


def test_refusals(loaded_cli: Cli) -> None:
    assert loaded_cli("apikey", "create", "app").code == 0
    again = loaded_cli("apikey", "create", "app")
    assert again.code == 1
    assert "app" in again.err
    unknown = loaded_cli("apikey", "create", "x", "--community", "atlantis")
    assert unknown.code == 1
    assert "atlantis" in unknown.err
    assert loaded_cli("apikey", "create", "bad name!").code == 1
    assert loaded_cli("apikey", "revoke", "nobody").code == 1
    assert loaded_cli("apikey").code == 2  # a subcommand is needed
    assert [k["name"] for k in loaded_cli.json("apikey", "list")] == ["app"]
