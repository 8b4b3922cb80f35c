"""What ``wolaiban run`` logs carries no secret, token, Twilio sid, sign-in link or phone number:
every form of each run through the configured handler comes out masked, the rest of a line as
it was; and a real SMS round trip through the Twilio emulator logs none of them at INFO, the
third-party request dumps kept quiet."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from bot.logs import QUIET, configure, masked, redact_text
from db.engine import Database
from sandbox.harness import FROM_NUMBER
from tests.e2e.sms_stack import MANAGER_PHONE, YUANXIANG_NUMBER, settled, sms_stack, text

pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning"
)

SECRET = "twilio-auth-token-0123456789"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ACCOUNT = "AC" + "0123456789abcdef" * 2
MESSAGE = "SM" + "fedcba9876543210" * 2
MEDIA_MESSAGE = "MM" + "00112233445566778899aabbccddeeff"
SERVICE = "MG" + "ffeeddccbbaa99887766554433221100"
SIGN_IN = "https://wolaiban.example.org/console/login/Zx9-abc_DEF123.456"

# Every form a phone number comes in, and the digits that must not survive any of them.
PHONES = [
    ("+8613800000001", "13800000001"),
    ("+86 138 0000 0001", "0000 0001"),
    ("+86-138-0000-0001", "0000-0001"),
    ("+86 (138) 0000-0001", "0000-0001"),
    ("%2B8613800000001", "13800000001"),  # URL-encoded, in a form or a query string
    ("13800000001", "13800000001"),
    ("138 0000 0001", "0000 0001"),
    ("138-0000-0001", "0000-0001"),
    ("8613800000001", "13800000001"),
    ("008613800000001", "13800000001"),
    ("+447700900123", "7700900123"),
    ("+44 7700 900123", "7700 900123"),
    ("+1 (202) 555-0100", "555-0100"),
    ("447700900123", "7700900123"),
]
# What must come out as it went in: numbers that are not phones.
KEPT = (
    "case #12 took 1500 ms",
    "at 2026-11-25 10:00:00+08:00",
    "HTTP/1.1 200 OK on port 8080",
    "Twilio 400 (error 21610)",
    "3 of 10 sent",
)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """``configure``'s handler at INFO, writing to a buffer; the logging as it was afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in QUIET}
    buffer = io.StringIO()
    configure("INFO", [SECRET], stream=buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)


def test_every_form_of_a_secret_token_sid_link_or_phone_is_masked(logs: io.StringIO) -> None:
    log = logging.getLogger("wolaiban.test")
    log.info("auth %s, bot https://api.telegram.org/bot%s/sendMessage", SECRET, BOT_TOKEN)
    log.info("sids %s %s %s %s", ACCOUNT, MESSAGE, MEDIA_MESSAGE, SERVICE)
    log.info("/2010-04-01/Accounts/%s/Messages/%s.json", ACCOUNT, MESSAGE)
    log.info("sign in at %s", SIGN_IN)
    log.info("GET /open311/v2/requests.json?api_key=k3y-SECRET-value&status=open")
    log.info("POST https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=wX-t0ken.v4l")
    log.info("GET /cgi-bin/gettoken?corpid=ww1&corpsecret=c0rp-S3cret_v4lue")
    log.info("Authorization: Basic QUMwMTIzOmZlZGNiYQ==")
    for phone, _ in PHONES:
        log.info("To=%s&Body=hello", phone)
    for kept in KEPT:
        log.info("%s", kept)
    try:
        raise ValueError(f"no route to +8613900000001 via {MESSAGE} with token {BOT_TOKEN}")
    except ValueError:
        log.exception("sending failed for 13900000002")
    logging.getLogger("telegram.ext").warning("chat 13800000009 said %s", SIGN_IN)

    out = logs.getvalue()
    for leaked in (SECRET, BOT_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "Zx9-abc_DEF123"):
        assert leaked not in out, leaked
    for sid in (ACCOUNT, MESSAGE, MEDIA_MESSAGE, SERVICE):
        assert sid[2:] not in out, sid
    assert "k3y-SECRET-value" not in out
    assert "wX-t0ken.v4l" not in out
    assert "c0rp-S3cret_v4lue" not in out
    assert "message/send?access_token=***" in out
    assert "QUMwMTIzOmZlZGNiYQ" not in out
    for phone, digits in PHONES:
        assert digits not in out, phone
    for digits in ("13900000001", "13900000002", "13800000009"):
        assert digits not in out
    # Masked, not dropped: a reader still tells the lines apart.
    assert "To=+86138****0001&Body=hello" in out
    assert "To=138****0001&Body=hello" in out
    assert "sids AC*** SM*** MM*** MG***" in out
    assert "/console/login/***" in out
    for kept in KEPT:
        assert f": {kept}\n" in out, kept
    assert "ValueError: no route to +86139****0001 via SM*** with token ***" in out


@pytest.mark.parametrize(
    ("digits", "shown"),
    [
        ("8613800000001", "86138****0001"),
        ("13800000001", "138****0001"),
        ("447700900123", "4477****0123"),
        ("12345678", "****5678"),
        ("1234567", "****567"),
    ],
)
def test_a_mask_hides_at_least_four_digits(digits: str, shown: str) -> None:
    assert masked(digits) == shown


def test_a_redacted_text_is_redacted_once_more_unchanged() -> None:
    line = f"to +8613800000001 ({MESSAGE}) {SIGN_IN} {BOT_TOKEN} 13800000001"
    once = redact_text(line, [SECRET])
    assert redact_text(once, [SECRET]) == once


async def test_an_sms_round_trip_logs_no_sid_or_phone_at_info(
    logs: io.StringIO, db: Database
) -> None:
    resident = "+8613900000073"
    async with sms_stack(db) as run:
        reply = await text(run, resident, YUANXIANG_NUMBER, "5号楼电梯坏了，困了一位老人")
        assert reply.messages  # the report was taken
        await settled(run)
        card = run.twilio.last(MANAGER_PHONE)  # the manager is reached by SMS
        number = re.search(r"#(\d+)", card.body)
        assert number is not None
        await text(run, MANAGER_PHONE, YUANXIANG_NUMBER, f"A{number.group(1)}")
        await settled(run)
        sids = [m.sid for m in (*run.twilio.sent, *run.twilio.received)]
        account = run.twilio.account_sid
    assert len(sids) >= 4
    # Ours still log through the same handler, masked.
    logging.getLogger("wolaiban").info("texted %s", resident)

    out = logs.getvalue()
    assert "texted +86139****0073" in out
    assert "Twilio API Request" not in out
    assert not re.search(r" twilio\.", out), out
    for sid in (account, *sids):
        assert sid[2:] not in out, sid
    for phone in (resident, MANAGER_PHONE, YUANXIANG_NUMBER, FROM_NUMBER):
        assert phone[3:] not in out, phone
