"""A resident's MMS: its pictures fetched from Twilio (the account's credentials on Twilio's own
origin only, none after the redirect to its media store), kept as the case's photos, uploaded to
a Telegram manager once and sent on by file id after an escalation; counted for an SMS-only
manager. What cannot be taken is told, never fatal; a retried MessageSid fetches nothing again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.services.cases import lifecycle
from db.engine import Database
from db.models import CasePhoto
from db.queries import case_photos
from sandbox.harness import eventually
from sandbox.serve import serving
from tests.e2e.channels import Both
from tests.e2e.sms_stack import MANAGER_PHONE, YUANXIANG_NUMBER, cases, settled, sms_stack

RESIDENT = "+8613900000002"  # 何女士, 碧桂园北区
BGY_NUMBER = "+8610690000002"
MANAGER, SUPERVISOR = 2002, 3002  # bgy-north's, on Telegram
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@asynccontextmanager
async def mms_stack(db: Database) -> AsyncIterator[Both]:
    """Both channels; Twilio's media store served on an origin of its own, as Twilio's is."""
    async with sms_stack(db) as run, serving(run.twilio.cdn_app) as cdn:
        run.twilio.url = run.stack.settings.twilio_api_url.rstrip("/")
        run.twilio.cdn_url = cdn
        yield run


async def photos(run: Both, number: int) -> list[CasePhoto]:
    """A case's photos as kept (without their bytes)."""
    async with run.ctx.db.reading() as session:
        return await case_photos(session=session, number=number)


async def test_an_mms_photo_reaches_the_telegram_manager_and_the_next_holder(db: Database) -> None:
    async with mms_stack(db) as run:
        tg, twilio = run.telegram, run.twilio
        reply = await run.twilio.text(
            RESIDENT,
            BGY_NUMBER,
            "3号楼门口的长椅坏了",
            url=f"{run.public_url}/twilio/sms",
            media=[(JPEG, "image/jpeg")],
        )
        assert len(reply.messages) == 1
        assert "#1" in reply.messages[0]
        [kept] = await photos(run, 1)
        assert (kept.source, kept.content_type, kept.size) == ("sms", "image/jpeg", len(JPEG))
        # Credentials went to Twilio's API and were not carried to its media store.
        assert [(where, auth) for where, _, auth in twilio.media_requests] == [
            ("api", True),
            ("cdn", False),
        ]

        await run.until(lambda: any(m.photo for m in tg.inbox(MANAGER)))
        card = tg.inbox(MANAGER)[0]
        assert card.text.startswith("📋 新诉求 #1（附照片 1 张）")  # the card is the caption
        assert card.button_data() == ["ack:1", "done:1", "decline:1"]
        assert tg.photos[card.message_id] == JPEG  # uploaded: the resident's own picture
        assert tg.sendable.uploads == 1
        assert card.file_id is not None

        async def remembered() -> bool:
            return [p.file_id for p in await photos(run, 1)] == [card.file_id]

        await eventually(remembered)  # the id Telegram gave the upload is kept for next time

        await lifecycle.escalate(run.ctx, number=1)
        await run.until(lambda: any(m.photo for m in tg.inbox(SUPERVISOR)))
        escalated = next(m for m in tg.inbox(SUPERVISOR) if m.photo)
        assert escalated.text.startswith("⏫ 诉求 #1（附照片 1 张）")
        assert escalated.file_id == card.file_id  # sent on by the id Telegram gave it
        assert tg.sendable.uploads == 1


async def test_media_that_cannot_be_taken_are_told_and_the_report_is_filed(db: Database) -> None:
    hits: list[str] = []

    async def elsewhere(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(JPEG, media_type="image/jpeg")

    other = Starlette(routes=[Route("/{path:path}", elsewhere)])
    async with mms_stack(db) as run, serving(other) as other_url:
        reply = await run.twilio.text(
            RESIDENT,
            BGY_NUMBER,
            "垃圾桶满了没人清",
            url=f"{run.public_url}/twilio/sms",
            media=[
                (JPEG, "image/jpeg"),
                (b"%PDF-1.4 not a picture", "application/pdf"),  # not an image: not fetched
                (b"<html>a page</html>", "image/jpeg"),  # says image, is not
                f"{other_url}/latest/meta-data/",  # not Twilio's origin: never requested
                (PNG, "image/png"),
            ],
        )
        assert "#1" in reply.messages[0]
        assert reply.messages[1] == (
            "有 3 张照片未能收下（只收图片，每张不能太大，最多 5 张）；诉求已照常登记。"
        )
        assert [(p.position, p.content_type) for p in await photos(run, 1)] == [
            (0, "image/jpeg"),
            (1, "image/png"),
        ]
        assert hits == []
        fetched = {medium for where, medium, _ in run.twilio.media_requests if where == "api"}
        assert len(fetched) == 3  # the two pictures and the one that lied about its type
        [case] = await cases(db)
        assert case.description == "垃圾桶满了没人清"
        # Two photos: an album before the card.
        await run.until(lambda: len(run.telegram.inbox(MANAGER)) >= 3)
        album, card = run.telegram.inbox(MANAGER)[:2], run.telegram.inbox(MANAGER)[2]
        assert [m.photo for m in album] == [True, True]
        assert card.text.startswith("📋 新诉求 #1（附照片 2 张）")


async def test_a_retried_mms_makes_one_case_and_fetches_once(db: Database) -> None:
    async with mms_stack(db) as run:
        url = f"{run.public_url}/twilio/sms"
        media = [(JPEG, "image/jpeg")]
        first = await run.twilio.text(RESIDENT, BGY_NUMBER, "路灯不亮", url=url, media=media)
        again = await run.twilio.text(
            RESIDENT, BGY_NUMBER, "路灯不亮", url=url, media=media, sid=first.sid
        )
        assert again.messages == first.messages
        assert len(await cases(db)) == 1
        assert len(await photos(run, 1)) == 1
        # The retry announced its medium again; it was not fetched again.
        assert sum(where == "api" for where, _, _ in run.twilio.media_requests) == 1


async def test_an_sms_only_manager_is_told_how_many_photos(db: Database) -> None:
    async with mms_stack(db) as run:
        reply = await run.twilio.text(
            "+8613900000003",
            YUANXIANG_NUMBER,
            "5号楼和6号楼之间的长椅坏了",
            url=f"{run.public_url}/twilio/sms",
            media=[(JPEG, "image/jpeg"), (PNG, "image/png")],
        )
        assert "#1" in reply.messages[0]
        await settled(run)
        [card] = [m for m in run.twilio.inbox(MANAGER_PHONE) if "#1" in m.body]
        assert card.body.startswith("📋 新诉求 #1（附照片 2 张）")
        assert "A1 接单" in card.body
