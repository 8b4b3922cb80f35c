"""An SMS as the delivery loop claims it from the outbox, for the tests that hand one to the
sender."""

from __future__ import annotations

from bot.delivery.claims import Claimed


def claimed_sms(address: str, text: str) -> Claimed:
    """Outbox row 1: ``text`` by SMS to ``address``, for nobody the directory knows."""
    return Claimed(
        id=1,
        channel="sms",
        person_id=None,
        address=address,
        text=text,
        buttons=[],
        urgent=False,
        attempts=0,
        edit_message_id=None,
    )
