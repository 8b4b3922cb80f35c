"""The TwiML answer reads as twilio's own would: every message, in order, any character safe."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from twilio.twiml.messaging_response import MessagingResponse

from bot.sms.twiml import messaging_twiml

TEXTS = [
    [],
    ["已收到，编号 #12"],
    ["a & b < c > d \"quoted\" 'single'", "</Message><Message>injected", "第二条\n换行"],
]


def _twilios(texts: list[str]) -> str:
    response = MessagingResponse()
    for text in texts:
        response.message(text)
    return str(response)


@pytest.mark.parametrize("texts", TEXTS)
def test_the_answer_parses_to_the_same_messages_as_twilios(texts: list[str]) -> None:
    ours, theirs = ET.fromstring(messaging_twiml(texts)), ET.fromstring(_twilios(texts))
    assert ours.tag == theirs.tag == "Response"
    assert [(m.tag, m.text or "") for m in ours] == [(m.tag, m.text or "") for m in theirs]
    assert [m.text or "" for m in ours] == texts


def test_a_resident_text_cannot_add_elements() -> None:
    root = ET.fromstring(messaging_twiml(["</Message><Redirect>http://x</Redirect>"]))
    assert [m.tag for m in root] == ["Message"]
