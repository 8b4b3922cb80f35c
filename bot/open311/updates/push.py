"""The ``open311`` channel's sender: each queued step (``bot.services.cases.updates``) POSTed
to the endpoint of the key that filed the request, in the extension's form, signed, through the
guarded POST (public addresses only). An endpoint that is down (a network error, a timeout, 408,
429, 5xx) holds its request's updates in order and is tried again — 1 s, doubling, at most every
5 minutes — for a day before the update is given up as dead; any other answer but 2xx is
permanent (the operator sees it in ``wolaiban outbox --dead``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from bot.delivery.claims import Claimed
from bot.delivery.outcomes import Delivered, Flooded, Outcome, Permanent
from bot.media.fetch import FetchPolicy
from bot.media.post import Refused, post_form
from bot.services.cases.updates import parse_address
from bot.services.unit.context import ServiceContext
from db import queries
from db.models import Case, CaseEvent, Open311Key, OutboxMessage

from ..describe import Context
from ..directory_view import describing_context
from .signing import HEADER, signature

Shape = Callable[[CaseEvent, Case, Context], dict[str, Any] | None]
FIRST_WAIT, LONGEST_WAIT = 1.0, 300.0  # seconds between tries of an endpoint that is down
GIVE_UP = 24 * 3600.0  # a day of failures: the update is dead
_NOT_ADDRESSES = frozenset({"address", "scheme", "malformed"})  # never to be fetched


@dataclass(slots=True)
class UpdatePusher:
    """POSTs updates; remembers, per request, how long its endpoint has been failing."""

    ctx: ServiceContext
    shape: Shape  # the update's fields, as GET servicerequestupdates lists them
    policy: FetchPolicy
    clock: Callable[[], float] = time.monotonic
    _failing: dict[str, tuple[int, float]] = field(default_factory=dict)  # scope: tries, since

    def scope(self, message: Claimed) -> tuple[str, bool]:
        """One request's updates go one at a time, in order."""
        return f"open311:{message.address}", False

    async def send(self, message: Claimed, *, silent: bool) -> Outcome:
        """POST one update; never raises for the endpoint's refusal."""
        found = await self._update(message)
        if isinstance(found, Permanent):
            return found
        url, secret, fields = found
        body = urlencode(fields).encode()
        headers = {HEADER: signature(secret, body, int(time.time()))}
        scope = self.scope(message)[0]
        try:
            status = await post_form(url, body, headers, self.policy)
        except Refused as refused:
            if refused.reason in _NOT_ADDRESSES:
                return Permanent(f"updates URL refused: {refused}")
            return self.failed(scope, str(refused))
        if 200 <= status < 300:
            self._failing.pop(scope, None)
            return Delivered(f"HTTP {status}")
        if status in (408, 429) or status >= 500:
            return self.failed(scope, f"HTTP {status}")
        self._failing.pop(scope, None)
        return Permanent(f"HTTP {status} from the updates URL")

    def failed(self, scope: str, error: str) -> Outcome:
        """The endpoint of ``scope`` failed this time: its updates wait, longer each time (they
        keep their place: a pause, not a retry that counts), and are given up after a day."""
        tries, since = self._failing.get(scope, (0, self.clock()))
        if self.clock() - since > GIVE_UP:
            self._failing.pop(scope, None)
            return Permanent(f"the updates URL failed for a day: {error}")
        self._failing[scope] = (tries + 1, since)
        return Flooded(min(LONGEST_WAIT, FIRST_WAIT * 2**tries))

    async def _update(self, message: Claimed) -> tuple[str, str, dict[str, Any]] | Permanent:
        """The endpoint, its secret and the update's fields, or why there is none to send."""
        named = parse_address(message.address)
        async with self.ctx.db.reading() as session:
            row = await session.get(OutboxMessage, message.id)
            key = await session.get(Open311Key, named[0]) if named else None
            event_id = row.params.get("event") if row is not None else None
            event = await session.get(CaseEvent, event_id) if isinstance(event_id, int) else None
            case = (
                await queries.get_case(session=session, number=event.case_number)
                if event is not None
                else None
            )
            at = await describing_context(session, self.ctx.default_language)
        if key is None or key.revoked_at is not None or not key.updates_url:
            return Permanent("the key no longer takes updates")
        if event is None or case is None or not key.updates_secret:
            return Permanent("nothing to send: the step or its request is gone")
        fields = self.shape(event, case, at)
        if fields is None:
            return Permanent("the step is not published")
        return key.updates_url, key.updates_secret, fields
