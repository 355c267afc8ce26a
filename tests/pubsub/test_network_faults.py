"""Half-open links, one connection kind at a time and all at once, idle and
in the middle of a burst.  Through a loopback proxy that stops forwarding
without closing anything, as after a NAT timeout or a pulled cable.

Each test asserts when the hub noticed (the stalled connection replaced),
how long until the next durable message was delivered (at most two
liveness intervals plus one poll), and that no durable message was lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from pgext import seam
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message

from .conftest import proxied_config
from .proxy import StallingProxy

pytestmark = pytest.mark.postgres

INTERVAL = 1.0
POLL = 0.5
# Scheduling slack on a loaded 2-core machine; the rule is 2 intervals + a poll.
SLACK = 0.5
BOUND = 2 * INTERVAL + POLL + SLACK


class Item(BaseModel):
    n: int
    pad: str = ""


def port_of(conn: Any) -> int:
    port: int = seam.connection_socket(conn).getsockname()[1]
    return port


@pytest.fixture
async def far(
    proxy: StallingProxy,
    postgres_config: dict[str, Any],
) -> AsyncIterator[Hub]:
    """A hub whose every connection goes through the proxy."""
    engine = await asyncio.to_thread(
        PgextEngine, config=proxied_config(postgres_config, proxy.port)
    )
    hub = Hub(
        engine,
        check_interval=INTERVAL,
        poll_interval=POLL,
        reconnect_delay=(0.02, 0.2),
    )
    yield hub
    await hub.close(timeout=2)


def kinds(hub: Hub, proxy: StallingProxy) -> dict[str, set[int]]:
    """Client-side ports of the hub's connections, by kind."""
    listener = {port_of(hub.listener._conn)}
    relay = {port_of(hub.relay._conn)}
    reader = proxy.open_ports() - listener - relay
    assert reader, "the hub's read pool holds no connection"
    return {"listener": listener, "relay": relay, "reader": reader}


async def wait_for(predicate: Any, limit: float) -> float:
    """Seconds until ``predicate()`` held (fails after ``limit``)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < limit, "never happened"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.parametrize("burst", [False, True], ids=["idle", "burst"])
@pytest.mark.parametrize("kind", ["listener", "relay", "reader", "all"])
async def test_half_open_link(
    far: Hub,
    proxy: StallingProxy,
    ps_engine: PgextEngine,
    kind: str,
    burst: bool,
) -> None:
    chan = Channel(f"net_{kind}_{int(burst)}", Item, durable=True)
    # Big payloads do not fit in a wake-up: the subscriber must read the
    # outbox through its pool, so a stalled reader matters.
    pad = "x" * 7500
    writer = await ps_engine.get_new_connection()  # direct, never stalled
    sub = await far.subscribe(chan).ready()
    try:
        await far.publish(chan, {"n": 0, "pad": pad}, connection=writer)
        first = await sub.get(timeout=10)
        assert isinstance(first, Message) and first.data.n == 0
        ports = kinds(far, proxy)
        before = {
            "listener": far.listener._conn,
            "relay": far.relay._conn,
            "reader": far.reads.generation,
        }
        sent = [0]

        async def publish(count: int) -> None:
            for _ in range(count):
                sent[0] += 1
                await far.publish(chan, {"n": sent[0], "pad": pad}, connection=writer)
                await asyncio.sleep(0.005)

        if burst:
            await publish(20)
            background = asyncio.create_task(publish(60))
            await asyncio.sleep(0.1)
        stalled_at = time.monotonic()
        only = None if kind == "all" else ports[kind]
        assert proxy.stall(only) >= 1
        if burst:
            await background
        await publish(1)
        marker = sent[0]
        got: list[int] = [0]
        delivered = None
        while len(set(got)) < marker + 1:
            event = await sub.get(timeout=BOUND + 5)
            assert isinstance(event, Message), event
            got.append(event.data.n)
            if event.data.n == marker:
                delivered = time.monotonic() - stalled_at
        assert set(got) == set(range(marker + 1)), "a durable message was lost"
        assert delivered is not None and delivered <= BOUND, (
            f"next message after {delivered:.2f}s"
        )
        # The stalled connections were noticed and replaced.
        replaced = {
            "listener": lambda: (
                far.listener._conn is not before["listener"] and far.listener.connected
            ),
            "relay": lambda: far.relay._conn is not before["relay"],
            "reader": lambda: far.reads.generation != before["reader"],
        }
        for name in ports if kind == "all" else [kind]:
            noticed = await wait_for(replaced[name], BOUND + 5)
            assert noticed <= BOUND, f"{name} replaced after {noticed:.2f}s"
        if kind in ("listener", "all"):
            assert far.listener.failed_checks >= 1
    finally:
        await sub.close()
        await writer.close()
