"""One message that came in, as every channel hands it to the use cases: which channel, the
provider's id for it (so a replay is handled once) and who sent it."""

from __future__ import annotations

from dataclasses import dataclass

from core.clean import clean

MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Inbound:
    """An inbound message: ``channel`` and ``external_id`` (the provider's id for the message)
    name it once; ``address`` is the sender's address on the channel (chat id, phone),
    resolved to a person inside the message's unit of work; ``name`` and ``language`` are what the
    channel says of a sender we have not met."""

    channel: str
    external_id: str
    address: str = ""
    name: str = ""
    language: str | None = None
    # ``language`` is only guessed from this message's text (an SMS): a stranger gets it, someone
    # known keeps theirs (or the default) — "A12" says nothing of a manager's language.
    language_guessed: bool = False
    # The language this very message is written in, where the channel can tell (an SMS's text):
    # a resident met on a channel is answered in the language they last wrote in.
    wrote_in: str | None = None
    # The channel shows a refusal itself (a button's alert) instead of a message in the outbox.
    refusal_aside: bool = False

    def __post_init__(self) -> None:
        # A name a channel gives is shown to managers on every card: cleaned like any text.
        object.__setattr__(self, "name", clean(self.name)[:MAX_NAME].strip())

    @property
    def key(self) -> str:
        """The inbound's key, carried by the messages that answer it."""
        return f"{self.channel}:{self.external_id}"


class AlreadyHandled(Exception):
    """This inbound message was handled before; nothing was done again."""
