"""``/wechat-kf/callback``: WeCom's URL verification (GET) and its signal that customer service
has news (POST ``kf_msg_or_event``). A callback is read only once its signature is checked and
it is decrypted (a forged one gets 403, nothing read); the signal is answered at once and the
messages pulled after (``pull``), so WeCom's 5 seconds are never at stake. A signal carries no
message: replayed, it only makes a pull that finds nothing new."""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.wecom.crypto import CallbackCrypto, CallbackError
from bot.wecom.wire import open_callback, verify_route_answer

from .pull import Puller

PATH = "/wechat-kf/callback"
MAX_BYTES = 16 * 1024  # a signal is a few hundred bytes of XML
_ACCOUNT = re.compile(r"[0-9A-Za-z_-]{1,64}")
_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,128}")

log = logging.getLogger(__name__)


class KfCallback:
    """The customer-service app's callback URL."""

    def __init__(self, crypto: CallbackCrypto, puller: Puller) -> None:
        self._crypto, self._puller = crypto, puller

    async def verify(self, request: Request) -> Response:
        """WeCom's GET when the URL is set: the decrypted echostr, or 403."""
        return verify_route_answer(request, self._crypto)

    async def receive(self, request: Request) -> Response:
        """A callback: 403 unless it is WeCom's; a signal starts a pull; "success" at once."""
        try:
            fields = await open_callback(request, self._crypto, MAX_BYTES)
        except CallbackError as error:
            log.info("a customer-service callback was refused: %s", error)
            return Response(status_code=403)
        if fields.get("MsgType") == "event" and fields.get("Event") == "kf_msg_or_event":
            account, token = fields.get("OpenKfId", ""), fields.get("Token", "")
            if _ACCOUNT.fullmatch(account):
                self._puller.signal(account, token if _TOKEN.fullmatch(token) else "")
        return PlainTextResponse("success")
