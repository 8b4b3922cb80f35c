"""The Open311 channel: GeoReport v2 routes on the one HTTP server. Nothing goes out on it (a
resident who gave a phone is told by SMS), so it reaches nobody and has no sender."""

from __future__ import annotations

from bot.adapter import Wired, Wiring
from bot.config import Settings
from bot.services.unit.traits import ChannelTraits

TRAITS = ChannelTraits("open311", reaches_people=False, plain_text=True, id_prefix="o311")


class Open311Adapter:
    """Open311 GeoReport v2: always served; POSTs need a key (``wolaiban apikey create``)."""

    traits = TRAITS

    def enabled(self, settings: Settings) -> bool:
        """Always on: without a key nothing can be filed, and reads need one unless allowed."""
        return True

    def wire(self, setup: Wiring) -> Wired:
        """The endpoints."""
        from .routes import Open311Api

        return Wired(routes=Open311Api(setup.ctx, setup.settings, setup.kick).routes())
