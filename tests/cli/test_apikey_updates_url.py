"""``wolaiban apikey create NAME --updates-url URL``: the key, then the signing secret, each
printed once, the endpoint kept with the key; a URL that cannot take updates makes nothing."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_a_key_with_an_updates_url_prints_its_signing_secret_once(loaded_cli: Cli) -> None:
    url = "https://12345.example.gov.cn/open311/updates"
    done = loaded_cli("apikey", "create", "beijing-12345", "--updates-url", url)
    assert done.code == 0, done.err
    lines = done.out.strip().splitlines()
    assert lines[1].startswith("o311_")
    assert f"每一步都会 POST 到 {url}" in done.out
    secret = lines[-1]
    assert len(secret) == 64
    int(secret, 16)  # hex
    [row] = loaded_cli.tables()["open311_key"]
    assert url in row
    assert secret in row
    assert "updates_secret" not in str(loaded_cli.json("apikey", "list"))


def test_an_updates_url_that_cannot_take_updates_makes_no_key(loaded_cli: Cli) -> None:
    for url in ("ftp://12345.example.gov.cn/u", "https://user:pw@12345.example.gov.cn/u", "no"):
        done = loaded_cli("apikey", "create", "beijing-12345", "--updates-url", url)
        assert done.code == 2, (url, done.out)
        assert "不能作为更新地址" in done.out + done.err
    assert loaded_cli.tables()["open311_key"] == []
