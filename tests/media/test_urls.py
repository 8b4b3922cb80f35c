"""A URL or a redirect's ``Location`` is read once, the way a connection would read it; what is
no well-formed http(s) URL is a typed refusal (``MalformedURL``, a ``Refused``), never a crash."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.media.fetch import FetchPolicy, MalformedURL, Refused, fetch_image
from bot.media.resolver import Resolver
from bot.media.urls import target_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PUBLIC = "93.184.215.14"  # what the fake DNS below answers for every name


def _dns(host: str, port: int) -> Sequence[str]:
    return [PUBLIC]


POLICY = FetchPolicy(resolver=Resolver(workers=1, lookup=_dns))

MALFORMED = [
    "http://example.com:99999/a.png",
    "http://example.com:65536/a.png",
    "http://example.com:0/a.png",
    "http://example.com:abc/a.png",
    "http://example.com:-1/a.png",
    "http://example.com:+80/a.png",
    "http://example.com:٨٠/a.png",  # Arabic-Indic digits are digits to str.isdigit
    "http://example.com:80:80/a.png",
    "http://[::1",
    "http://[::1]x/",
    "http://[127.0.0.1]/",
    "http://[v1.fe]/",
    "http://[]/",
    "http://",
    "http:///a.png",
    "http://:80/a.png",
    "http:a.png",
    "http://exa mple.com/",
    "http://example.com/a b.png",
    "http://exa\tmple.com/",
    "http://ex\nample.com/",
    "http://ex\x00ample.com/",
    "http://%31%32%37.0.0.1/",
    "http://example..com/",
    "http://-example.com/",
    "http://exa_mple$.com/",
    "http://127.0.0.1.5/",
    "http://1.2.3.4.5/",
    "http://256.0.0.1/",
    "http://08.0.0.1/",
    "http://0x/",
    "http://4294967296/",
    "http://foo.0x10/",
    "http://127.0.0.1\\@8.8.8.8/",
    "http://xn--/",
    "http://" + "a" * 64 + ".com/",
    "http://example.com/" + "a" * 5000,
]


@pytest.mark.parametrize("url", MALFORMED)
async def test_a_malformed_url_is_a_typed_refusal(url: str) -> None:
    with pytest.raises(MalformedURL) as refused:
        await fetch_image(url, POLICY, transport=httpx.MockTransport(_never))
    assert refused.value.reason == "malformed"
    assert isinstance(refused.value, Refused)  # what Open311 answers 400 and MMS counts


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/a.png", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("//example.com/a.png", "scheme"),
        ("example.com/a.png", "scheme"),
        ("", "scheme"),
        ("http://user:pass@example.com/a.png", "scheme"),
        ("http://8.8.8.8@127.0.0.1/a.png", "scheme"),  # userinfo that looks like the host
        ("http://127.0.0.1:80@8.8.8.8/a.png", "scheme"),
        ("http://@example.com/a.png", "scheme"),
    ],
)
async def test_other_schemes_and_userinfo_tricks_are_refused(url: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        await fetch_image(url, POLICY, transport=httpx.MockTransport(_never))
    assert refused.value.reason == reason


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a refused URL was requested: {request.url}")


def _redirecting(location: bytes, seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) > 1:
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return httpx.Response(302, headers=[(b"location", location)])

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    "location",
    [
        "http://example.com:99999/a.png",
        "http://example.com:abc/a.png",
        "http://[::1",
        "http://[::1]:abc/",
        "http://:80/a.png",
        "http://exa mple.com/",
        "http://%7f.0.0.1/",
        "http://[fe80::1%25eth0]/",
    ],
)
async def test_a_malformed_redirect_is_a_typed_refusal(location: str) -> None:
    seen: list[httpx.Request] = []
    transport = _redirecting(location.encode(), seen)
    with pytest.raises(MalformedURL):
        await fetch_image("http://images.example/a.png", POLICY, transport=transport)
    assert len(seen) == 1  # the first hop only


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/a.png", "scheme"),
        ("http://user:pass@example.com/a.png", "scheme"),
        ("http://127.0.0.1/a.png", "address"),
        ("http://2130706433/a.png", "address"),
        ("http://0x7f000001/a.png", "address"),
        ("http://0177.0.0.1/a.png", "address"),
        ("http://127.1/a.png", "address"),
        ("http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/", "address"),
        ("http://[::ffff:169.254.169.254]/", "address"),
        ("http://[::a9fe:a9fe]/", "address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "address"),
        ("http://[2002:a9fe:a9fe::]/", "address"),
        ("http://[fec0::1]/", "address"),
        ("//127.0.0.1/a.png", "address"),  # scheme-relative
        ("http://8.8.8.8:8080/a.png", "address"),  # a public address, but not a web port
    ],
)
async def test_a_redirect_to_a_refused_place_is_refused(location: str, reason: str) -> None:
    seen: list[httpx.Request] = []
    transport = _redirecting(location.encode(), seen)
    with pytest.raises(Refused) as refused:
        await fetch_image("http://images.example/a.png", POLICY, transport=transport)
    assert refused.value.reason == reason
    assert len(seen) == 1


async def test_a_redirect_in_full_width_digits_is_read_as_the_address_it_is() -> None:
    seen: list[httpx.Request] = []
    transport = _redirecting("http://１２７．０．０．１/a.png".encode(), seen)
    with pytest.raises(Refused, match=r"^address: 127\.0\.0\.1: loopback$"):
        await fetch_image("http://images.example/a.png", POLICY, transport=transport)


async def test_a_relative_redirect_stays_on_the_checked_host() -> None:
    seen: list[httpx.Request] = []
    transport = _redirecting(b"/b.png?x=1", seen)
    image = await fetch_image("http://images.example./a.png", POLICY, transport=transport)
    assert image.url == "http://images.example/b.png?x=1"
    assert [str(r.url) for r in seen] == [f"http://{PUBLIC}/a.png", f"http://{PUBLIC}/b.png?x=1"]
    assert {r.headers["host"] for r in seen} == {"images.example"}


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "0177.00.00.01",
        "127.1",
        "127.0.1",
        "0x7f.1",
        "0x7F.0X0.0.0x1",
        "017700000001",
        "10.0x10.020.1",
        "4294967295",
        "0",
        "255.16777215",
        "1.2.65535",
        "8.526344",
    ],
)
def test_numeric_hosts_are_read_as_the_system_reads_them(host: str) -> None:
    """``inet_aton`` is what ``getaddrinfo`` uses for a numeric host: we read the same address."""
    expected = ipaddress.IPv4Address(socket.inet_aton(host))
    assert target_of(f"http://{host}/").literal == expected
    assert target_of(f"http://{host}./").literal == expected  # the trailing dot changes nothing


@pytest.mark.parametrize(
    ("written", "host", "port"),
    [
        ("HTTP://Images.Example.:8080/p", "images.example", 8080),
        ("https://Bücher.example/p", "xn--bcher-kva.example", 443),
        ("https://ｅｘａｍｐｌｅ．com/p", "example.com", 443),
        ("http://example.com:/p", "example.com", 80),
        ("  http://example.com/p  ", "example.com", 80),
        ("http://[2001:DB8::1]:8443/p", "2001:db8::1", 8443),
    ],
)
def test_hosts_are_read_in_one_canonical_form(written: str, host: str, port: int) -> None:
    target = target_of(written)
    assert (target.host, target.port, target.path) == (host, port, "/p")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_no_text_makes_the_reader_fail_otherwise_than_by_refusing(text: str) -> None:
    for url in (text, f"http://{text}", f"http://{text}/a.png", f"https://x.example{text}"):
        try:
            target = target_of(url)
        except Refused:
            continue
        assert target.scheme in ("http", "https")
        assert 0 < target.port < 65536
        assert target.host.isascii()
        assert target.host
        assert target.path.startswith("/")
