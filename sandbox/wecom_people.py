"""The people the WeCom emulator plays: members of the corp writing to the staff app and pressing
its cards' buttons, residents writing to customer service, clicking menu items, sending pictures
and opening the conversation — each as the callback WeCom posts the bot."""

from __future__ import annotations

import secrets
from typing import Any

from sandbox.wecom_app import StaffApp
from sandbox.wecom_callbacks import Caller
from sandbox.wecom_kf import CustomerService
from sandbox.wecom_state import AppMessage, Card, Clock, Posted


class People:
    """Mixed into ``WeComEmulator``: the scripting a test or the demo calls."""

    corp_id: str
    agent_id: int
    clock: Clock
    staff: StaffApp
    service: CustomerService
    posted: list[Posted]
    media: dict[str, tuple[bytes, str]]

    def _callers(self) -> tuple[Caller, Caller]:
        raise NotImplementedError

    # ---- members (the staff app) ----------------------------------------------------------------

    async def member_says(self, userid: str, text: str) -> Posted:
        """The member ``userid`` writes ``text`` to the app (a command when it starts with /)."""
        fields: dict[str, str | int] = {
            "ToUserName": self.corp_id,
            "FromUserName": userid,
            "CreateTime": int(self.clock.now()),
            "MsgType": "text",
            "Content": text,
            "MsgId": str(secrets.randbits(63)),
            "AgentID": self.agent_id,
        }
        return await self._callers()[0].post(fields)

    async def member_presses(
        self, userid: str, card: Card | AppMessage, key: str, *, strict: bool = True
    ) -> Posted:
        """The member presses the button ``key`` of ``card`` (one they received): the
        template_card_event with a fresh ResponseCode. ``strict``: refuse a key the card does
        not show now (after an update its buttons are gone) — a test of forgeries turns it off."""
        if isinstance(card, AppMessage):
            if card.card is None:
                raise ValueError(f"message {card.msgid} is a text, not a card")
            card = card.card
        if strict and key not in card.pressable():
            raise ValueError(f"the card {card.task_id} shows no button {key!r} now")
        fields: dict[str, str | int] = {
            "ToUserName": self.corp_id,
            "FromUserName": userid,
            "CreateTime": int(self.clock.now()),
            "MsgType": "event",
            "Event": "template_card_event",
            "EventKey": key,
            "TaskId": card.task_id,
            "CardType": "button_interaction",
            "ResponseCode": self.staff.press_code(userid, card),
            "AgentID": self.agent_id,
        }
        return await self._callers()[0].post(fields)

    # ---- residents (customer service) ---------------------------------------------------------

    async def resident_says(self, open_kfid: str, external_userid: str, text: str) -> Posted:
        """The resident writes ``text``: queued for sync_msg, then kf_msg_or_event posted."""
        self.queue_text(open_kfid, external_userid, text)
        return await self.signal(open_kfid)

    async def resident_clicks(
        self,
        open_kfid: str,
        external_userid: str,
        menu_item_id: str,
        text: str | None = None,
        *,
        strict: bool = True,
    ) -> Posted:
        """The resident clicks the menu item ``menu_item_id`` (a text with ``menu_id``; its
        content is the item's unless ``text`` is given). ``strict``: only an item of a menu the
        resident received — a test of forgeries turns it off."""
        shown = [
            item
            for message in self.service.inboxes.get((open_kfid, external_userid), [])
            for item in message.items
            if item.id == menu_item_id
        ]
        if strict and not shown:
            raise ValueError(f"no menu sent to {external_userid} has an item {menu_item_id!r}")
        content = text if text is not None else (shown[-1].content if shown else menu_item_id)
        self.queue_text(open_kfid, external_userid, content, menu_item_id)
        return await self.signal(open_kfid)

    async def resident_sends_image(
        self,
        open_kfid: str,
        external_userid: str,
        content: bytes = b"\xff\xd8\xff\xe0 a picture \xff\xd9",
        content_type: str = "image/jpeg",
    ) -> Posted:
        """The resident sends a picture: an image message whose media_id ``media/get`` serves."""
        media_id = "media" + secrets.token_hex(16)
        self.media[media_id] = (content, content_type)
        body = {"image": {"media_id": media_id}}
        self.service.customer_message(open_kfid, external_userid, "image", body)
        return await self.signal(open_kfid)

    async def resident_enters(
        self, open_kfid: str, external_userid: str, scene: str = ""
    ) -> Posted:
        """The resident opens the conversation: an enter_session event with a welcome_code."""
        self.service.enter_session(open_kfid, external_userid, scene)
        return await self.signal(open_kfid)

    def queue_text(
        self, open_kfid: str, external_userid: str, text: str, menu_id: str | None = None
    ) -> str:
        """The resident's text queued for sync_msg with no callback (as if the signal was
        lost); its msgid."""
        body: dict[str, Any] = {"text": {"content": text}}
        if menu_id is not None:
            body["text"]["menu_id"] = menu_id
        return str(self.service.customer_message(open_kfid, external_userid, "text", body)["msgid"])

    async def signal(self, open_kfid: str) -> Posted:
        """kf_msg_or_event for ``open_kfid`` with a fresh Token (new messages wait in sync_msg)."""
        fields: dict[str, str | int] = {
            "ToUserName": self.corp_id,
            "CreateTime": int(self.clock.now()),
            "MsgType": "event",
            "Event": "kf_msg_or_event",
            "Token": self.service.msg_token(),
            "OpenKfId": open_kfid,
        }
        return await self._callers()[1].post(fields)

    # ---- again, and forged --------------------------------------------------------------------

    async def replay_last(self) -> Posted:
        """The last callback posted, again byte for byte (WeCom's retry, or a replay attack)."""
        last = next(p for p in reversed(self.posted) if p.body)
        app_caller, kf_caller = self._callers()
        caller = app_caller if last.url == app_caller.url else kf_caller
        return await caller.replay(last)

    def _forgery_fields(self, which: str) -> dict[str, str | int]:
        """A plausible message for a forgery: a member's command, or a customer-service signal."""
        if which == "app":
            return {
                "ToUserName": self.corp_id,
                "FromUserName": next(iter(sorted(self.staff.members)), "forger"),
                "CreateTime": int(self.clock.now()),
                "MsgType": "text",
                "Content": "/cases",
                "MsgId": str(secrets.randbits(63)),
                "AgentID": self.agent_id,
            }
        return {
            "ToUserName": self.corp_id,
            "CreateTime": int(self.clock.now()),
            "MsgType": "event",
            "Event": "kf_msg_or_event",
            "Token": "forged" + secrets.token_hex(8),
            "OpenKfId": next(iter(sorted(self.service.open_kfids)), "wkforged"),
        }
