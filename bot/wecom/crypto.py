"""WeCom's callback encryption (the scheme of its WXBizMsgCrypt samples): a SHA-1 signature over
the token, timestamp, nonce and ciphertext, and AES-256-CBC with the app's EncodingAESKey."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeCom pads to 32-byte blocks (PKCS#7 with the AES key's length, not AES's 16-byte block).
BLOCK = 32
_RANDOM, _LENGTH = 16, 4
# WeCom's timestamps are seconds since 1970 and its nonces short digit strings; a little room is
# left, but anything far from that shape is no WeCom's and is refused before any work on it.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{40}")
# The largest ciphertext opened (base64 characters): a callback's XML is a few kilobytes.
MAX_ENCRYPTED = 256 * 1024
MAX_AGE = 300


class CallbackError(ValueError):
    """A callback that is not WeCom's: a bad signature, shape, padding, length or receiver."""


@dataclass(frozen=True, slots=True)
class CallbackCrypto:
    """One app's callback keys: its Token, its AES key and the receiver id (the corp id)."""

    token: str
    key: bytes
    receive_id: str
    # A timestamp further than this many seconds from now is refused: a callback captured once
    # cannot be played again later. WeCom's docs do not ask for it; its retries come within
    # ~15 s. None turns it off (WeCom's own sample, from 2014).
    max_age: int | None = MAX_AGE

    @classmethod
    def of(
        cls,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        *,
        max_age: int | None = MAX_AGE,
    ) -> CallbackCrypto:
        """The keys from the app's Token and 43-character EncodingAESKey; ValueError if not one."""
        text = encoding_aes_key.strip()
        if len(text) != 43:
            raise ValueError("an EncodingAESKey has 43 characters")
        try:
            key = base64.b64decode(text + "=", validate=True)
        except binascii.Error as error:
            raise ValueError("an EncodingAESKey is base64") from error
        if not token or not receive_id:
            raise ValueError("a callback needs its Token and receiver id")
        return cls(token=token, key=key, receive_id=receive_id, max_age=max_age)

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """WeCom's msg_signature: SHA-1 of the four values sorted and joined, in hex."""
        joined = "".join(sorted((self.token, timestamp, nonce, encrypted)))
        return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()

    def open(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bytes:
        """The plaintext of a signed ciphertext; CallbackError unless all of it is WeCom's."""
        self._check_shape(msg_signature, timestamp, nonce, encrypted)
        expected = self.signature(timestamp, nonce, encrypted)
        # Checked before anything is decrypted, so no padding error ever answers a forger.
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise CallbackError("signature does not match")
        return self._decrypt(encrypted)

    def seal(self, plain: bytes, timestamp: str, nonce: str) -> tuple[str, str]:
        """``plain`` encrypted for this receiver and signed: (encrypted, signature)."""
        body = os.urandom(_RANDOM) + struct.pack(">I", len(plain)) + plain
        body += self.receive_id.encode()
        pad = BLOCK - len(body) % BLOCK
        body += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
        return encrypted, self.signature(timestamp, nonce, encrypted)

    def _cipher(self) -> Cipher[modes.CBC]:
        """AES-256-CBC with the key, and its first 16 bytes as the IV (WeCom's choice)."""
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def _check_shape(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """CallbackError when a value is not of the shape WeCom sends, or the time is too far."""
        if not _SIGNATURE.fullmatch(signature) or not _NONCE.fullmatch(nonce):
            raise CallbackError("signature or nonce malformed")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise CallbackError("timestamp malformed")
        if not encrypted or len(encrypted) > MAX_ENCRYPTED:
            raise CallbackError("ciphertext missing or too long")
        if self.max_age is not None and abs(time.time() - int(timestamp)) > self.max_age:
            raise CallbackError("timestamp too far from now")

    def _decrypt(self, encrypted: str) -> bytes:
        """The message inside a ciphertext whose signature was checked."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except binascii.Error as error:
            raise CallbackError("ciphertext is not base64") from error
        if not data or len(data) % 16:
            raise CallbackError("ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        body = decryptor.update(data) + decryptor.finalize()
        pad = body[-1]
        if not 1 <= pad <= BLOCK or pad > len(body) or body[-pad:] != bytes([pad]) * pad:
            raise CallbackError("bad padding")
        body = body[:-pad]
        if len(body) < _RANDOM + _LENGTH:
            raise CallbackError("too short")
        (length,) = struct.unpack(">I", body[_RANDOM : _RANDOM + _LENGTH])
        start = _RANDOM + _LENGTH
        if length > len(body) - start:
            raise CallbackError("length past the end")
        receiver = body[start + length :]
        if not hmac.compare_digest(receiver, self.receive_id.encode()):
            raise CallbackError("for another receiver")
        return body[start : start + length]
