"""``/wecom/callback``: WeCom's URL verification (GET) and its callbacks (POST). Nothing of a
callback is read before its signature is checked and it is decrypted; a forged, tampered or
foreign one is answered 403 and changes nothing. A member's text and card presses go to the
handlers; the answer ("success") comes once their work is committed — well within WeCom's
5 seconds, nothing slow being done in the request — and a failure answers 500, so WeCom
posts it again (and the replay is handled once)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.wecom.crypto import CallbackCrypto, CallbackError
from bot.wecom.wire import open_callback, verify_route_answer

from .handlers import StaffGateway
from .pressed import Press
from .sender import USERID

log = logging.getLogger(__name__)
PATH = "/wecom/callback"
SUCCESS = "success"
# A WeCom message id: a 64-bit number (kept as text; bounded like the inbound id column).
_MSG_ID_CHARS = 64


class AppCallback:
    """The callback endpoint of one app (its keys, its agent id, its handlers)."""

    def __init__(
        self, crypto: CallbackCrypto, *, agent_id: int, gateway: StaffGateway, max_bytes: int
    ) -> None:
        self._crypto, self._agent = crypto, str(agent_id)
        self._gateway, self._max_bytes = gateway, max_bytes

    async def endpoint(self, request: Request) -> Response:
        """The route's one entry: GET verifies the URL, POST delivers a callback."""
        if request.method == "GET":
            return await self.verify(request)
        return await self.receive(request)

    async def verify(self, request: Request) -> Response:
        """``GET``: the decrypted echostr, proving we hold the app's keys; 403 otherwise."""
        return verify_route_answer(request, self._crypto)

    async def receive(self, request: Request) -> Response:
        """``POST``: one callback, handled before it is answered."""
        try:
            fields = await open_callback(request, self._crypto, self._max_bytes)
        except CallbackError as error:
            log.info("a WeCom callback was refused: %s", error)
            return Response(status_code=403)
        if fields.get("AgentID", self._agent) != self._agent:
            return PlainTextResponse(SUCCESS)  # another app's: not ours to act on
        userid = fields.get("FromUserName", "").lower()
        if not USERID.fullmatch(userid):
            return PlainTextResponse(SUCCESS)
        kind, event = fields.get("MsgType"), fields.get("Event")
        if kind == "text":
            msg_id = fields.get("MsgId", "")
            if msg_id and len(msg_id) <= _MSG_ID_CHARS:
                await self._gateway.text(msg_id, userid, fields.get("Content", ""))
        elif kind == "event" and event == "template_card_event":
            press = Press(
                userid=userid,
                key=fields.get("EventKey", ""),
                task=fields.get("TaskId", ""),
                code=fields.get("ResponseCode", ""),
            )
            if press.usable:
                await self._gateway.press(press)
        # Anything else (a picture, entering the app, a menu event) asks nothing of us.
        return PlainTextResponse(SUCCESS)
