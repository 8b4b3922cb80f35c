"""The SMS webhook reads Twilio's form-encoded posts: a report texted with characters that need
escaping is answered with its case; anything else (multipart, forged) is refused unread."""

from __future__ import annotations

import re

from sqlmodel import select
from twilio.request_validator import RequestValidator

from bot.services.unit.context import ServiceContext
from bot.sms.webhook import SMS_PATH
from db.models import Case
from sandbox.twilio import new_sid
from tests.sms.test_signatures import HOST, TOKEN, _webhooks

BODY = "楼道灯坏了 & 门口+水管漏水=50%"  # '&', '+', '=' and '%' must survive the decoding


def _form(body: str, sender: str) -> dict[str, str]:
    sid = new_sid("SM")
    return {"MessageSid": sid, "From": sender, "To": "+8610690000003", "Body": body, "Empty": ""}


async def test_a_signed_urlencoded_report_is_answered_and_multipart_is_refused_unread(
    loaded: ServiceContext,
) -> None:
    async with _webhooks(loaded, HOST) as client:
        params = _form(BODY, "+8613700000061")
        signature = RequestValidator(TOKEN).compute_signature(f"{HOST}{SMS_PATH}", params)
        headers = {"X-Twilio-Signature": signature}
        answer = await client.post(SMS_PATH, data=params, headers=headers)
        # Twilio posts form-encoded only: a multipart body, even signed, is never parsed.
        other = _form(BODY, "+8613700000062")
        signature = RequestValidator(TOKEN).compute_signature(f"{HOST}{SMS_PATH}", other)
        files = {k: (None, v) for k, v in other.items()}
        multipart = await client.post(
            SMS_PATH, files=files, headers={"X-Twilio-Signature": signature}
        )
        forged = _form(BODY, "+8613700000063")
        signature = RequestValidator(TOKEN).compute_signature(f"{HOST}{SMS_PATH}", forged)
        forged["Body"] += "!"  # not what was signed
        refused = await client.post(
            SMS_PATH, data=forged, headers={"X-Twilio-Signature": signature}
        )
    assert answer.status_code == 200, answer.text
    assert re.search(r"#\d+", answer.text), answer.text  # '&', '+', '=', '%' survived
    assert multipart.status_code == 415
    assert refused.status_code == 403
    async with loaded.db.reading() as session:
        cases = (await session.exec(select(Case))).all()
    assert [c.description for c in cases] == [BODY]  # one case, the urlencoded one, text intact


async def test_an_oversized_form_is_refused_unread(loaded: ServiceContext) -> None:
    async with _webhooks(loaded, HOST) as client:
        fields = "&".join(f"f{i}=x" for i in range(1200))
        answer = await client.post(
            SMS_PATH,
            content=fields.encode(),
            headers={
                "X-Twilio-Signature": "x",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
    assert answer.status_code in (400, 403)
