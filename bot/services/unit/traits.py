"""What the use cases know of the channels: their names and what each can do, in the order people
are reached. The composition root fills it from the adapter registry (``bot/channels.py``); no
use case names a channel's vendor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChannelTraits:
    """One channel as the use cases see it."""

    name: str
    # Messages can go out on it (it has a sender); people are reached on these in book order.
    reaches_people: bool = True
    # It can change a message sent before: the case's cards are edited as the case moves.
    edits_messages: bool = False
    # Plain text only (no buttons, no photos): questions offer numbered choices to reply with,
    # digests come in their short form.
    plain_text: bool = False
    # Answers to an inbound ride on the channel's reply to the request that brought it (an SMS
    # webhook's answer), not on a send of their own.
    answers_in_reply: bool = False
    # It shows photos: a case card goes with the case's photos (as a caption, or after an album).
    photos: bool = False
    # How the ids of residents first met on it begin ("<prefix>-<address>").
    id_prefix: str = ""


@dataclass(frozen=True, slots=True)
class ChannelBook:
    """The channels of this process, in fallback order (a person is reached on the first of
    theirs that is reachable, their preferred one first)."""

    channels: tuple[ChannelTraits, ...] = ()

    def get(self, name: str) -> ChannelTraits | None:
        """The traits of channel ``name``, or None for a channel this process does not run."""
        return next((c for c in self.channels if c.name == name), None)

    @property
    def reach_order(self) -> tuple[str, ...]:
        """The channels people are reached on, first choice first."""
        return tuple(c.name for c in self.channels if c.reaches_people)

    @property
    def editing(self) -> tuple[str, ...]:
        """The channels whose earlier messages are edited as a case moves."""
        return tuple(c.name for c in self.channels if c.edits_messages)

    def resident_id(self, name: str, address: str) -> str:
        """The id of a resident first met at ``address`` on channel ``name``."""
        traits = self.get(name)
        return f"{(traits.id_prefix if traits and traits.id_prefix else name)}-{address}"

    def answers_in_reply(self, name: str) -> bool:
        """True when channel ``name`` carries answers in its reply to the inbound."""
        traits = self.get(name)
        return traits is not None and traits.answers_in_reply

    def plain_text(self, name: str) -> bool:
        """True when channel ``name`` carries plain text only (choices as numbers to reply with)."""
        traits = self.get(name)
        return traits is not None and traits.plain_text

    def photos(self, name: str) -> bool:
        """True when channel ``name`` shows photos (a card goes with the case's photos)."""
        traits = self.get(name)
        return traits is not None and traits.photos
