"""WeCom's callback crypto against the official sample (WXBizMsgCrypt's, from WeCom's docs), and
everything that is not WeCom's refused: a forged signature, a tampered or misdirected ciphertext,
bad padding, values of a shape WeCom never sends."""

from __future__ import annotations

import base64
import struct
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom.crypto import CallbackCrypto, CallbackError
from bot.wecom.wire import fields_of

# The sample's settings and the callback it shows (WeCom's "加解密方案说明" and its samples).
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
SIGNATURE, TIMESTAMP, NONCE = "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149"
ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUp"
    "j911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue"
    "06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+"
    "3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH"
    "27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8"
    "R07+qN+E7Q=="
)
# The URL verification of the same sample: its echostr decrypts to this number.
VERIFY = ("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780")
ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="


@pytest.fixture
def crypto() -> CallbackCrypto:
    """The sample's keys; its timestamps are from 2014, so their age is not checked here."""
    return CallbackCrypto.of(TOKEN, AES_KEY, CORP_ID, max_age=None)


def test_the_official_sample_is_signed_and_decrypts_to_its_message(crypto: CallbackCrypto) -> None:
    assert crypto.signature(TIMESTAMP, NONCE, ENCRYPT) == SIGNATURE
    fields = fields_of(crypto.open(SIGNATURE, TIMESTAMP, NONCE, ENCRYPT))
    assert fields == {
        "ToUserName": CORP_ID,
        "FromUserName": "mycreate",
        "CreateTime": "1409659813",
        "MsgType": "text",
        "Content": "hello",
        "MsgId": "4561255354251345929",
        "AgentID": "218",
    }
    assert crypto.open(*VERIFY, ECHOSTR) == b"1616140317555161061"


def test_what_is_sealed_opens_to_the_same_bytes(crypto: CallbackCrypto) -> None:
    for plain in (b"", b"x", "楼道灯坏了，请尽快修".encode() * 40, bytes(range(256))):
        encrypted, signature = crypto.seal(plain, "1700000000", "42")
        assert crypto.open(signature, "1700000000", "42", encrypted) == plain
    # A fresh random prefix each time: the same message never gives the same ciphertext.
    assert crypto.seal(b"same", "1", "2") != crypto.seal(b"same", "1", "2")


def test_a_forged_or_stale_signature_is_refused_before_decrypting(crypto: CallbackCrypto) -> None:
    other = "0" + SIGNATURE[1:] if SIGNATURE[0] != "0" else "1" + SIGNATURE[1:]
    cases = [
        (other, TIMESTAMP, NONCE, ENCRYPT),  # one hex digit changed
        (SIGNATURE, "1409659814", NONCE, ENCRYPT),  # another time under the same signature
        (SIGNATURE, TIMESTAMP, "1372623148", ENCRYPT),
        (SIGNATURE, TIMESTAMP, NONCE, "A" + ENCRYPT[1:]),  # the ciphertext changed
    ]
    for case in cases:
        with pytest.raises(CallbackError, match="signature"):
            crypto.open(*case)
    # Another app's token signs differently.
    impostor = CallbackCrypto.of("another-token", AES_KEY, CORP_ID, max_age=None)
    encrypted, signature = impostor.seal(b"<xml/>", TIMESTAMP, NONCE)
    with pytest.raises(CallbackError, match="signature"):
        crypto.open(signature, TIMESTAMP, NONCE, encrypted)


def test_a_ciphertext_for_another_corp_or_tampered_under_the_token_is_refused(
    crypto: CallbackCrypto,
) -> None:
    # Signed with our token, but encrypted for another corp id (another receiver).
    elsewhere = CallbackCrypto.of(TOKEN, AES_KEY, "ww0000000000000000", max_age=None)
    encrypted, signature = elsewhere.seal(b"<xml/>", TIMESTAMP, NONCE)
    with pytest.raises(CallbackError, match="receiver"):
        crypto.open(signature, TIMESTAMP, NONCE, encrypted)
    # The sample's last block altered and the result signed: its padding or receiver is wrong.
    raw = bytearray(base64.b64decode(ENCRYPT))
    for position in range(len(raw) - 32, len(raw) - 16):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        text = base64.b64encode(bytes(tampered)).decode()
        with pytest.raises(CallbackError):
            crypto.open(crypto.signature(TIMESTAMP, NONCE, text), TIMESTAMP, NONCE, text)


def _signed_raw(crypto: CallbackCrypto, body: bytes) -> tuple[str, str]:
    """``body`` encrypted as it is (no padding added), and signed."""
    encryptor = Cipher(algorithms.AES(crypto.key), modes.CBC(crypto.key[:16])).encryptor()
    text = base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
    return text, crypto.signature(TIMESTAMP, NONCE, text)


def test_bad_padding_lengths_and_encodings_are_refused(crypto: CallbackCrypto) -> None:
    message = b"\0" * 16 + struct.pack(">I", 6) + b"<xml/>" + CORP_ID.encode()
    fill = 32 - len(message) % 32
    good = message + bytes([fill]) * fill
    bad = [
        (message + bytes([fill - 1]) + bytes([fill]) * (fill - 1), "padding"),  # uneven
        (message + b"\0" * fill, "padding"),  # a zero pad
        (message + bytes([33]) * fill, "padding"),  # longer than WeCom's 32-byte blocks
        (b"\0" * 16 + struct.pack(">I", 10_000) + b"x" * 12 + bytes([32]) * 32, "length"),
        (bytes([16]) * 16, "short"),  # all padding, no header
    ]
    text, signature = _signed_raw(crypto, good)
    assert crypto.open(signature, TIMESTAMP, NONCE, text) == b"<xml/>"
    for body, why in bad:
        text, signature = _signed_raw(crypto, body)
        with pytest.raises(CallbackError, match=why):
            crypto.open(signature, TIMESTAMP, NONCE, text)
    for text in ("not base64!", "QUJD"):  # not base64; not whole AES blocks
        with pytest.raises(CallbackError, match=r"base64|blocks"):
            crypto.open(crypto.signature(TIMESTAMP, NONCE, text), TIMESTAMP, NONCE, text)


def test_values_of_a_shape_wecom_never_sends_are_refused(crypto: CallbackCrypto) -> None:
    for signature, timestamp, nonce in [
        ("", TIMESTAMP, NONCE),
        ("z" * 40, TIMESTAMP, NONCE),
        (SIGNATURE + "0", TIMESTAMP, NONCE),
        (SIGNATURE, "", NONCE),
        (SIGNATURE, "14096598l3", NONCE),
        (SIGNATURE, "1" * 13, NONCE),
        (SIGNATURE, TIMESTAMP, ""),
        (SIGNATURE, TIMESTAMP, "1" * 65),
        (SIGNATURE, TIMESTAMP, "13726 23149"),
    ]:
        with pytest.raises(CallbackError, match="malformed"):
            crypto.open(signature, timestamp, nonce, ENCRYPT)
    with pytest.raises(CallbackError, match="too long"):
        crypto.open(SIGNATURE, TIMESTAMP, NONCE, "A" * (256 * 1024 + 4))
    # The signature compares the same in either case of its hex digits.
    assert crypto.open(SIGNATURE.upper(), TIMESTAMP, NONCE, ENCRYPT).startswith(b"<xml>")


def test_old_and_future_timestamps_are_refused_by_default() -> None:
    crypto = CallbackCrypto.of(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(CallbackError, match="too far"):
        crypto.open(SIGNATURE, TIMESTAMP, NONCE, ENCRYPT)  # 2014
    now = int(time.time())
    for moment in (now - 400, now + 400):
        encrypted, signature = crypto.seal(b"x", str(moment), NONCE)
        with pytest.raises(CallbackError, match="too far"):
            crypto.open(signature, str(moment), NONCE, encrypted)
    encrypted, signature = crypto.seal(b"x", str(now - 15), NONCE)  # WeCom's retry, 15 s later
    assert crypto.open(signature, str(now - 15), NONCE, encrypted) == b"x"


def test_an_encoding_aes_key_that_is_not_one_is_refused() -> None:
    for key in ("", AES_KEY[:-1], AES_KEY + "A", AES_KEY[:-1] + "!"):
        with pytest.raises(ValueError, match="EncodingAESKey"):
            CallbackCrypto.of(TOKEN, key, CORP_ID)
    with pytest.raises(ValueError, match="Token"):
        CallbackCrypto.of("", AES_KEY, CORP_ID)
