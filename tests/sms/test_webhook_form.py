"""The SMS webhook reads Twilio's form the same whichever way it is encoded: a report texted with
characters that need escaping is answered with its case, signed or refused the same."""

from __future__ import annotations

import re

from twilio.request_validator import RequestValidator

from bot.services.unit.context import ServiceContext
from bot.sms.webhook import SMS_PATH
from sandbox.twilio import new_sid
from tests.sms.test_signatures import HOST, TOKEN, _webhooks

BODY = "楼道灯坏了 & 门口+水管漏水=50%"  # '&', '+', '=' and '%' must survive the decoding


def _form(body: str, sender: str) -> dict[str, str]:
    sid = new_sid("SM")
    return {"MessageSid": sid, "From": sender, "To": "+8610690000003", "Body": body, "Empty": ""}


async def test_an_urlencoded_and_a_multipart_report_are_read_alike(loaded: ServiceContext) -> None:
    async with _webhooks(loaded, HOST) as client:
        answers = []
        for sender, multipart in (("+8613700000061", False), ("+8613700000062", True)):
            params = _form(BODY, sender)
            signature = RequestValidator(TOKEN).compute_signature(f"{HOST}{SMS_PATH}", params)
            headers = {"X-Twilio-Signature": signature}
            if multipart:  # httpx sends a multipart body when files are given
                files = {k: (None, v) for k, v in params.items()}
                answer = await client.post(SMS_PATH, files=files, headers=headers)
            else:
                answer = await client.post(SMS_PATH, data=params, headers=headers)
            assert answer.status_code == 200, answer.text
            answers.append(answer.text)
        forged = _form(BODY, "+8613700000063")
        signature = RequestValidator(TOKEN).compute_signature(f"{HOST}{SMS_PATH}", forged)
        forged["Body"] += "!"  # not what was signed
        refused = await client.post(
            SMS_PATH, data=forged, headers={"X-Twilio-Signature": signature}
        )
    assert refused.status_code == 403
    numbers = [re.search(r"#(\d+)", a) for a in answers]
    assert all(numbers), answers
    assert re.sub(r"#\d+", "#N", answers[0]) == re.sub(r"#\d+", "#N", answers[1])


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
