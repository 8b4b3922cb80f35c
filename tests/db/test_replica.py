"""Reads off the primary (DATABASE_READ_URL), against a real streaming replica this module starts:
the console's lists, rates and CSV and Open311's searches come from the replica once it has
caught up; with its replay paused, whoever just acted still sees their action (from the primary)
while everyone else sees the replica's older copy, until both agree again; writes never go to
the replica; a replica that does not answer leaves every page working, on the primary."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.app import build_context, reading
from bot.channels import BOOK
from bot.config import Settings, SettingsError
from bot.console.routes import console_routes
from bot.directory_file import read_directory
from bot.open311 import keys
from bot.open311.routes import Open311Api
from bot.services.directory.load import load_directory
from bot.services.staff import stats
from bot.services.unit.context import ServiceContext
from bot.web import create_web_app
from db.engine import open_database
from db.migrate import upgrade
from sandbox.harness import EXAMPLE
from tests.console.conftest import BASE, SECRET, Browser
from tests.services.example import case_in

from .replica_cluster import Cluster, free_port, running_cluster, why_not

WHY_NOT = why_not()
if WHY_NOT is not None:
    pytest.skip(WHY_NOT, allow_module_level=True)

STAFF, MANAGER = "liubo", "mgr-jzsj-south"  # both see jzsj-south's cases
ROW = re.compile(r'data-number="(\d+)"')


async def _prepare(url: str) -> None:
    db = open_database(url)
    try:
        await upgrade(db)
        ctx = ServiceContext(db=db, channels=BOOK, default_language="zh")
        await load_directory(ctx, read_directory(EXAMPLE))
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A primary (migrated, the example directory loaded) and its streaming replica."""
    with running_cluster() as made:
        asyncio.run(_prepare(made.primary.url))
        yield made


@dataclass
class World:
    """The console and Open311 on a database reading from the replica, and browsers on it."""

    ctx: ServiceContext
    http: httpx.AsyncClient
    browser: Callable[[], Browser]
    cluster: Cluster

    @property
    def served(self) -> dict[str, int]:
        """How many lagging reads each side has served so far."""
        assert self.ctx.db.replica is not None
        return dict(self.ctx.db.replica.served)

    async def caught_up(self) -> None:
        """Until the replica has replayed everything committed on the primary so far."""
        target, replica = await self.ctx.db.written(), self.ctx.db.replica
        assert target is not None
        assert replica is not None
        for _ in range(500):
            if (await replica.replayed() or 0) >= target:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the replica did not catch up")

    def replay(self, on: bool) -> None:
        """Pause or resume the replica's replay (and wait until it is paused)."""
        replica = self.cluster.replica
        self.cluster.sql(replica, f"select pg_wal_replay_{'resume' if on else 'pause'}()")
        while not on and self.cluster.sql(replica, "select pg_get_wal_replay_pause_state()") != (
            "paused"
        ):
            pass


async def _world(cluster: Cluster, read_url: str) -> AsyncIterator[World]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=cluster.primary.url,
        database_read_url=read_url,
        console_secret=SECRET,
        public_url=BASE,
    )
    ctx = build_context(settings)
    ctx = ServiceContext(db=ctx.db, channels=BOOK, default_language="zh")
    routes = console_routes(settings, ctx, lambda: None)
    routes += Open311Api(ctx, settings, lambda: None).routes()
    app = create_web_app(ctx, routes, settings=settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(ctx.db.dispose)

        def browser() -> Browser:
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url=BASE)
            stack.push_async_callback(client.aclose)
            return Browser(client, ctx)

        http = browser().client
        yield World(ctx, http, browser, cluster)


@pytest.fixture
async def world(cluster: Cluster) -> AsyncIterator[World]:
    """The app with DATABASE_READ_URL naming the replica; the replay always resumed after."""
    try:
        async for made in _world(cluster, cluster.replica.url):
            yield made
    finally:
        cluster.sql(cluster.replica, "select pg_wal_replay_resume()")


async def rows(browser: Browser, status: str) -> list[int]:
    """The case numbers of the browser's list of ``status`` (its live fragment)."""
    answer = await browser.client.get(
        f"/console/cases?status={status}", headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200, answer.text[:300]
    return [int(n) for n in ROW.findall(answer.text)]


async def test_a_case_written_on_the_primary_shows_on_the_replicas_pages(world: World) -> None:
    staff = world.browser()
    await staff.sign_in(STAFF)
    number = await case_in(world.ctx, "assigned")
    await world.caught_up()
    before = world.served
    assert number in await rows(staff, "assigned")
    csv = await staff.client.get("/console/cases.csv")
    assert f"\n{number}," in csv.text
    assert (await staff.client.get("/console/rates")).status_code == 200
    after = world.served
    assert after["replica"] - before["replica"] == 3
    assert after["primary"] == before["primary"]
    metrics = (await world.http.get("/metrics")).text
    assert f'wolaiban_lagging_reads_total{{database="replica"}} {after["replica"]}.0' in metrics


async def test_who_acted_sees_their_action_while_the_replica_lags(world: World) -> None:
    number = await case_in(world.ctx, "assigned")
    manager, staff = world.browser(), world.browser()
    await manager.sign_in(MANAGER)
    await staff.sign_in(STAFF)
    await world.caught_up()
    world.replay(on=False)
    done = await manager.act(number, action="acknowledge")
    assert done.status_code == 303
    served = world.served
    # The manager sees their acknowledgement: their list is read from the primary.
    assert number in await rows(manager, "acknowledged")
    assert world.served["primary"] == served["primary"] + 1
    # 刘博 did nothing: his list comes from the replica, which has not replayed it yet.
    assert number not in await rows(staff, "acknowledged")
    assert number in await rows(staff, "assigned")
    old_csv = (await staff.client.get("/console/cases.csv?status=assigned")).text
    assert f"\n{number}," in old_csv
    assert world.served["replica"] == served["replica"] + 3
    # A position of one's own making is no signed one: it changes nothing.
    forged = f"{2**62}.{'0' * 32}"
    staff.client.cookies.set("wolaiban_written", forged, domain="127.0.0.1", path="/console")
    assert number in await rows(staff, "assigned")
    assert world.served["replica"] == served["replica"] + 4
    world.replay(on=True)
    await world.caught_up()
    served = world.served
    assert number in await rows(manager, "acknowledged")
    assert number in await rows(staff, "acknowledged")
    assert number not in await rows(staff, "assigned")
    assert world.served["replica"] == served["replica"] + 3  # the manager's too, now


async def test_an_open311_key_reads_its_own_request_while_the_replica_lags(world: World) -> None:
    mine = await keys.create_key(world.ctx, name="city-own", communities=[])
    other = await keys.create_key(world.ctx, name="city-other", communities=[])
    await world.caught_up()
    world.replay(on=False)
    filed = await world.http.post(
        "/open311/v2/requests.json",
        data={
            "api_key": mine,
            "service_code": "parcels",
            "jurisdiction_id": "jzsj-south",
            "address_string": "172号楼门口",
            "description": "快递堆在172号楼门口占道",
        },
    )
    assert filed.status_code == 200, filed.text
    number = filed.json()[0]["service_request_id"]
    path = f"/open311/v2/requests/{number}.json"
    assert (await world.http.get(path, headers={"X-Api-Key": mine})).status_code == 200
    assert (await world.http.get(path, headers={"X-Api-Key": other})).status_code == 404
    world.replay(on=True)
    await world.caught_up()
    found = await world.http.get(path, headers={"X-Api-Key": other})
    assert found.status_code == 200
    assert found.json()[0]["service_request_id"] == number


async def test_stats_read_the_replica_and_writes_never_go_there(world: World) -> None:
    await world.caught_up()
    world.replay(on=False)
    number = await case_in(world.ctx, "assigned")  # written through the same context: primary
    async with reading(world.ctx) as lagging:
        on_replica = (await stats.rates(lagging))[""].cases
    on_primary = (await stats.rates(world.ctx))[""].cases
    assert on_replica == on_primary - 1
    assert world.ctx.db.replica is not None
    async with world.ctx.db.replica.engine.connect() as replica:  # the replica itself refuses
        with pytest.raises(DBAPIError, match="read-only"):
            await replica.execute(text(f"update cases set location = 'x' where number = {number}"))
    world.replay(on=True)
    await world.caught_up()
    async with reading(world.ctx) as lagging:
        assert (await stats.rates(lagging))[""].cases == on_primary


def test_a_replica_needs_a_postgresql_primary(cluster: Cluster) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="sqlite+aiosqlite:///./never.db",
        database_read_url=cluster.replica.url,
    )
    with pytest.raises(SettingsError, match="DATABASE_READ_URL"):
        build_context(settings)


async def test_a_replica_that_does_not_answer_leaves_the_pages_on_the_primary(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"
    async for world in _world(cluster, nowhere):
        number = await case_in(world.ctx, "assigned")
        staff = world.browser()
        await staff.sign_in(STAFF)
        with caplog.at_level(logging.WARNING, logger="wolaiban"):
            for _ in range(3):
                assert number in await rows(staff, "assigned")
        said = [r.getMessage() for r in caplog.records if "replica" in r.getMessage()]
        assert len(said) == 1, said
        assert "reads go to the primary" in said[0]
        assert world.served == {"replica": 0, "primary": 3}


async def test_a_replica_failing_a_page_leaves_it_to_the_primary(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # The replica's server answers, but this database of it has none of the tables.
    broken = cluster.replica.url.rsplit("/", 1)[0] + "/template1"
    async for world in _world(cluster, broken):
        number = await case_in(world.ctx, "assigned")
        staff = world.browser()
        await staff.sign_in(STAFF)
        await world.caught_up()  # the replica is tried: it has replayed the sign-in
        with caplog.at_level(logging.WARNING, logger="wolaiban"):
            for _ in range(2):
                assert number in await rows(staff, "assigned")
        said = [r.getMessage() for r in caplog.records if "replica" in r.getMessage()]
        assert len(said) == 1, said
        assert world.served == {"replica": 0, "primary": 2}
