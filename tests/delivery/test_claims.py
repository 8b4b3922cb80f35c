"""Claims of a process that died: a restarted process sends them at once, without waiting out
their lease; a living holder's claims are left alone until their lease runs out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

from bot import processes
from bot.delivery.claims import claim_due
from bot.services.cases.report import NewReport, report
from bot.services.unit.context import ServiceContext
from core.cases import Channel
from tests.conftest import Clock

LEASE = timedelta(seconds=20)
HOST = socket.gethostname()


def dead_holder() -> str:
    """The holder id of a process of this machine that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{HOST}:{child.pid}"


def test_a_holder_is_gone_only_when_its_process_on_this_machine_is() -> None:
    assert processes.is_gone(dead_holder())
    assert not processes.is_gone(processes.holder_id())  # this very process
    assert not processes.is_gone(f"{HOST}:{os.getppid()}")  # alive, whoever it is
    assert not processes.is_gone("another-machine:999999")  # only its lease can tell
    assert not processes.is_gone("not a holder")


async def _report(ctx: ServiceContext) -> None:
    await report(
        ctx,
        resident_id="r-jzsj-172",
        channel=Channel.TELEGRAM,
        new=NewReport("jzsj-south", "parcels", "快递堆在路上", location="172"),
    )


async def test_a_dead_processs_claims_are_taken_at_once(loaded: ServiceContext) -> None:
    await _report(loaded)
    tg = Channel.TELEGRAM
    killed = await claim_due(loaded, channel=tg, limit=100, lease=LEASE, holder=dead_holder())
    assert len(killed) == 2  # the resident's receipt and the manager's card, then the kill
    me = processes.holder_id()
    # without asking who is gone, they wait for their lease, as before
    assert await claim_due(loaded, channel=tg, limit=100, lease=LEASE, holder=me) == []
    taken = await claim_due(
        loaded, channel=tg, limit=100, lease=LEASE, holder=me, gone=processes.is_gone
    )
    assert sorted(m.id for m in taken) == sorted(m.id for m in killed)
    # and now they are this process's: nobody else takes them while it lives
    again = await claim_due(
        loaded, channel=tg, limit=100, lease=LEASE, holder="other:1", gone=processes.is_gone
    )
    assert again == []


async def test_a_living_holders_claims_wait_for_their_lease(
    loaded: ServiceContext, clock: Clock
) -> None:
    await _report(loaded)
    tg = Channel.TELEGRAM
    alive = f"{HOST}:{os.getppid()}"
    held = await claim_due(loaded, channel=tg, limit=100, lease=LEASE, holder=alive)
    assert len(held) == 2
    me = processes.holder_id()
    early = await claim_due(
        loaded, channel=tg, limit=100, lease=LEASE, holder=me, gone=processes.is_gone
    )
    assert early == []
    clock.advance(seconds=21)
    late = await claim_due(
        loaded, channel=tg, limit=100, lease=LEASE, holder=me, gone=processes.is_gone
    )
    assert sorted(m.id for m in late) == sorted(m.id for m in held)
