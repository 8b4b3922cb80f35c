"""The Open311 channel: GeoReport v2 routes on the one HTTP server. It reaches nobody (a resident
who gave a phone is told by SMS); what goes out on it are the updates pushed to the endpoints of
the keys that filed requests (``updates.push``)."""

from __future__ import annotations

from typing import Any

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.services.unit.traits import ChannelTraits
from db.models import Case, CaseEvent

from .describe import Context

TRAITS = ChannelTraits("open311", reaches_people=False, plain_text=True, id_prefix="o311")


class Open311Adapter:
    """Open311 GeoReport v2: always served; POSTs need a key (``wolaiban apikey create``)."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """Always on: without a key nothing can be filed, and reads need one unless allowed."""
        return True

    def wire(self, setup: Wiring) -> Wired:
        """The endpoints, and the sender of the updates pushed to cities."""
        from bot.delivery.pacing import Limits
        from bot.media.fetch import FetchPolicy
        from bot.media.guard import Allowance

        from .routes import Open311Api
        from .updates.push import UpdatePusher
        from .updates.shape import update_fields

        settings = setup.settings

        def shape(event: CaseEvent, case: Case, at: Context) -> dict[str, Any] | None:
            return update_fields(event, case, at, base_url=settings.public_url)

        policy = FetchPolicy(allowance=Allowance.parse(settings.media_fetch_allow))
        return Wired(
            routes=Open311Api(setup.ctx, settings, setup.kick).routes(),
            sender=UpdatePusher(setup.ctx, shape=shape, policy=policy),
            # Each request's updates one at a time (its scope); cities' endpoints are no chats.
            pacing=setup.pacing or Limits(per_second=20.0, chat_interval=0.0),
        )
