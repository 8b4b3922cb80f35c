"""What the updates tests share: a request filed and taken through its life by its manager and
its resident through the use cases, and the extension's two routes as a client calls them."""

from __future__ import annotations

from typing import Any

from bot.services.cases.lifecycle import Request, act
from bot.services.unit.context import Actor, ServiceContext
from core.cases import Action, Channel, Rating
from db.models import Case
from tests.open311.conftest import Client

MANAGER = Actor("mgr-jzsj-south", Channel.TELEGRAM)
STEPS: dict[str, Request] = {
    "acknowledge": Request(Action.ACKNOWLEDGE),
    "resolve": Request(Action.RESOLVE, note="已清理"),
    "rate": Request(Action.RATE, rating=Rating.SATISFIED),
}


async def step(ctx: ServiceContext, number: int, name: str) -> Case:
    """The manager (or, to rate, the resident) takes step ``name`` on case ``number``."""
    actor = MANAGER
    if name == "rate":
        async with ctx.db.reading() as session:
            case = await session.get(Case, number)
            assert case is not None
            actor = Actor(case.resident_id, Channel.SMS)
    return await act(ctx, number=number, actor=actor, request=STEPS[name])


async def updates(client: Client, key: str | None = None, **params: Any) -> tuple[int, Any]:
    """GET servicerequestupdates with ``key`` (the client's unless given) in the header."""
    headers = {"x-api-key": client.key if key is None else key} if key != "" else {}
    response = await client.http.get(
        client.url("servicerequestupdates"), params=params, headers=headers
    )
    return response.status_code, client.read(response)


async def post_update(client: Client, key: str, **form: Any) -> tuple[int, Any]:
    """POST servicerequestupdates, form-encoded as FixMyStreet's client posts it."""
    fields = {"api_key": key, "first_name": "Zhou", "email": "zhou@example.org", **form}
    response = await client.http.post(client.url("servicerequestupdates"), data=fields)
    return response.status_code, client.read(response)
