"""A case's photos through the console: behind the case's own authorization, from the row's bytes
or from Telegram by file id (getFile, then the file server), cached, never served as a page."""

from __future__ import annotations

from collections.abc import Callable

from bot.media.kept import PhotoCache
from bot.services.cases.photos import NewPhoto, keep
from bot.services.unit.context import ServiceContext
from sandbox.harness import serve_emulators
from sandbox.telegram import TelegramEmulator
from tests.services.example import case_in

from .conftest import OTHER_STAFF, STAFF, Browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def _with_photos(ctx: ServiceContext, *photos: NewPhoto) -> int:
    number = await case_in(ctx, "assigned")
    async with ctx.db.transaction() as session:
        keep(session, number, photos, ctx.clock())
    return number


async def test_kept_photos_are_served_to_who_sees_the_case(
    browser_for: Callable[..., Browser],
) -> None:
    staff, other, nobody = browser_for(), browser_for(), browser_for()
    number = await _with_photos(
        staff.ctx,
        NewPhoto("sms", content=PNG, content_type="image/png"),
        NewPhoto("sms", content=b"<html><script>alert(1)</script>", content_type="text/html"),
    )
    await staff.sign_in(STAFF)
    page = (await staff.client.get(f"/console/cases/{number}")).text
    assert f'src="/console/cases/{number}/photos/0"' in page
    assert f'src="/console/cases/{number}/photos/1"' in page
    shown = await staff.client.get(f"/console/cases/{number}/photos/0")
    assert shown.status_code == 200
    assert shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["x-content-type-options"] == "nosniff"
    hostile = await staff.client.get(f"/console/cases/{number}/photos/1")
    assert hostile.headers["content-type"] == "application/octet-stream"
    assert hostile.headers["content-disposition"].startswith("attachment")
    for position in (7, 2**40):
        answer = await staff.client.get(f"/console/cases/{number}/photos/{position}")
        assert answer.status_code == 404

    await other.sign_in(OTHER_STAFF)
    refused = await other.client.get(f"/console/cases/{number}/photos/0")
    assert refused.status_code == 404
    assert PNG not in refused.content
    assert (await nobody.client.get(f"/console/cases/{number}/photos/0")).status_code == 401


async def test_telegram_photos_are_fetched_by_file_id_and_cached(
    browser_for: Callable[..., Browser], loaded: ServiceContext
) -> None:
    telegram = TelegramEmulator()
    telegram.files["AgACAgIAAx-photo-1"] = JPEG
    number = await _with_photos(loaded, NewPhoto("telegram", file_id="AgACAgIAAx-photo-1"))
    missing = await _with_photos(loaded, NewPhoto("telegram", file_id="gone"))
    async with serve_emulators(telegram) as emulators:
        browser = browser_for(
            telegram_bot_token=telegram.token, telegram_api_url=emulators.telegram_url
        )
        await browser.sign_in(STAFF)
        for _ in range(3):
            shown = await browser.client.get(f"/console/cases/{number}/photos/0")
            assert shown.status_code == 200
            assert shown.content == JPEG
            assert shown.headers["content-type"] == "image/jpeg"
        assert telegram.file_downloads == 1  # the cache answered the others
        gone = await browser.client.get(f"/console/cases/{missing}/photos/0")
        assert gone.status_code == 404
        assert "这张照片暂时无法显示" in gone.text
        await browser.client.aclose()


def test_the_cache_stays_within_its_bounds() -> None:
    cache = PhotoCache(entries=2, total=100)
    cache.put("a", b"x" * 40, "image/png")
    cache.put("b", b"y" * 40, "image/png")
    assert cache.get("a") is not None  # now the most recent
    cache.put("c", b"z" * 40, "image/png")  # three entries: "b" (least recent) goes
    assert cache.get("b") is None
    assert cache.get("a") is not None
    cache.put("d", b"w" * 90, "image/png")  # 170 bytes: everything older goes
    assert (cache.get("a"), cache.get("c")) == (None, None)
    cache.put("huge", b"h" * 101, "image/png")  # larger than the whole cache: not kept
    assert cache.get("huge") is None
    assert cache.get("d") is not None
