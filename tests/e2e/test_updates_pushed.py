"""A city that filed a request hears each of its steps (issue 25): a key made with an updates
URL files a request on the running stack; the manager acknowledges and resolves on Telegram,
the resident rates by SMS; the city's receiver — answering 503 for its first 20 seconds, as an
endpoint that is down — gets OPEN, IN_PROGRESS, FIXED and CLOSED once each, in order, each
signed with the key's secret; nothing was tried out of order while it was down; and
``GET servicerequestupdates`` over the same window lists the same updates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.open311 import keys
from bot.open311.updates.signing import HEADER, valid
from db.engine import Database
from sandbox.serve import serving
from tests.console.in_browser import png
from tests.e2e.channels import both_channels

RESIDENT = "+8613900000077"  # nobody the directory knows: the key's resident, by SMS
COMMUNITY_NUMBER = "+8610690000001"  # jzsj-south's SMS number
MANAGER = 2001  # mgr-jzsj-south on Telegram
DOWN = 20.0  # seconds the city's endpoint answers 503
FIX = "AgACAgIAAx-fix-east-gate"  # the file id of 王经理's photo of the fix
FIX_PNG = png()


@dataclass
class CityReceiver:
    """The city's endpoint: every POST as it came, and what it answered."""

    started: float = field(default_factory=time.monotonic)
    tries: list[tuple[int, dict[str, str], bytes, str]] = field(default_factory=list)

    async def take(self, request: Request) -> Response:
        body = await request.body()
        answer = 503 if time.monotonic() - self.started < DOWN else 200
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.tries.append((answer, fields, body, request.headers.get(HEADER, "")))
        return Response(status_code=answer)

    def taken(self) -> list[dict[str, str]]:
        """The updates it accepted, in the order they came."""
        return [fields for answer, fields, _, _ in self.tries if answer == 200]


async def test_a_city_hears_each_step_once_in_order_through_a_downtime(
    db: Database,
) -> None:
    city = CityReceiver()
    app = Starlette(routes=[Route("/updates", city.take, methods=["POST"])])
    async with (
        serving(app) as receiver,
        both_channels(db, media_fetch_allow="127.0.0.1") as run,
    ):
        key = await keys.create_key(run.ctx, name="beijing-12345", communities=["jzsj-south"])
        secret = await keys.set_updates(run.ctx, name="beijing-12345", url=f"{receiver}/updates")
        base = f"{run.public_url}/open311/v2"
        async with httpx.AsyncClient(timeout=10) as http:
            posted = await http.post(
                f"{base}/requests.json",
                data={
                    "api_key": key,
                    "service_code": "parcels",
                    "address_string": "172号楼东门",
                    "description": "172号楼东门快递堆放占道，老人轮椅过不去",
                    "phone": RESIDENT,
                },
            )
            assert posted.status_code == 200, posted.text
            number = posted.json()[0]["service_request_id"]

            # The manager and the resident go on while the city's endpoint is down.
            tg, phone = run.telegram, run.twilio
            await run.until(lambda: len(tg.inbox(MANAGER)) == 1)
            card = tg.inbox(MANAGER)[0]
            await tg.user_presses(MANAGER, card, f"ack:{number}")
            await run.until(lambda: any("接单" in m.body for m in phone.inbox(RESIDENT)))
            # The fix shown, not just pressed: a photo replying to the card (kept by file id).
            tg.files[FIX] = FIX_PNG
            await tg.user_says(MANAGER, "门口已清理", photo=FIX, reply_to=card)
            await run.until(lambda: any("回复 1 满意" in m.body for m in phone.inbox(RESIDENT)))
            reply = await run.text(RESIDENT, COMMUNITY_NUMBER, "1")
            assert any("已办结" in m for m in reply.messages)
            assert city.taken() == []  # still down: nothing accepted yet, nothing lost either

            await run.until(lambda: len(city.taken()) >= 4, seconds=DOWN + 40)
            statuses = [u["status"] for u in city.taken()]
            assert statuses == ["OPEN", "IN_PROGRESS", "FIXED", "CLOSED"]
            assert {u["service_request_id"] for u in city.taken()} == {number}
            ids = [u["update_id"] for u in city.taken()]
            assert len(set(ids)) == 4
            assert all(i.isdigit() for i in ids)
            # Every try was signed with the key's secret, over the body as sent.
            now = int(time.time())
            assert all(valid(secret, body, signed, now) for _, _, body, signed in city.tries)
            assert not valid("another-secret", city.tries[0][2], city.tries[0][3], now)
            # While it was down the first update was tried again and again; none after it went.
            tried = [fields["status"] for _, fields, _, _ in city.tries]
            assert tried[: tried.index("IN_PROGRESS")] == ["OPEN"] * tried.index("IN_PROGRESS")
            assert [a for a, _, _, _ in city.tries].count(503) >= 2
            assert tried[tried.index("IN_PROGRESS") :] == ["IN_PROGRESS", "FIXED", "CLOSED"]

            # Reading the updates of the same window gives the same updates.
            listed = await http.get(
                f"{base}/servicerequestupdates.json",
                params={"api_key": key, "jurisdiction_id": "jzsj-south"},
            )
            assert listed.status_code == 200, listed.text
            pushed = [{k: u.get(k, "") for k in sorted(u)} for u in city.taken()]
            read = [{k: str(v or "") for k, v in sorted(u.items())} for u in listed.json()]
            assert read == pushed
            # The fix's photo is the FIXED update's media_url: fetched from Telegram for the key.
            [fixed] = [u for u in city.taken() if u["status"] == "FIXED"]
            assert fixed["media_url"].startswith(f"{run.public_url}/open311/v2/requests/{number}/")
            photo = await http.get(fixed["media_url"], headers={"X-Api-Key": key})
            assert photo.status_code == 200, photo.text
            assert photo.content == FIX_PNG
            assert photo.headers["content-type"] == "image/png"
            assert (await http.get(fixed["media_url"])).status_code == 403  # no key, no photo
