"""``/digest``: staff get the digest now, text and chart; others are told it is for staff."""

from __future__ import annotations

from db.engine import Database
from tests.e2e.channels import both_channels

STAFF, MANAGER = 1002, 2002  # 苏兴华 (碧桂园北区 staff), 郑经理


async def test_staff_get_the_digest_with_its_chart(db: Database) -> None:
    async with both_channels(db) as run:
        tg = run.telegram
        await tg.user_says(STAFF, "/digest")
        await run.until(lambda: any(m.photo for m in tg.inbox(STAFF)))
        texts = [m.text for m in tg.inbox(STAFF)]
        assert any("📊 每日简报" in t and "碧桂园北区社区" in t for t in texts)
        photo = next(m for m in tg.inbox(STAFF) if m.photo)
        assert tg.photos[photo.message_id][:8] == b"\x89PNG\r\n\x1a\n"
        await tg.user_says(MANAGER, "/digest")
        await run.until(lambda: len(tg.inbox(MANAGER)) == 1)
        assert "工作人员" in tg.inbox(MANAGER)[0].text
        assert not any(m.photo for m in tg.inbox(MANAGER))
