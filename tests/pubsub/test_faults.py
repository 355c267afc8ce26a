"""Fault injection: a killed listener backend, a server restart, a
half-open connection behind a stalling TCP proxy, many forced reconnects."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import time
from typing import Any

import asyncpg
import pytest

from pgext.engine import PgextEngine
from pgext.harness.postgres import LocalPostgres
from pgext.pubsub import Channel, Gap, Hub, Message

from .conftest import Note, proxied_config
from .proxy import StallingProxy
from .test_durable import Tagged, check_complete_and_ordered, collect

pytestmark = pytest.mark.postgres

INTERVAL = 0.5


async def next_of(sub: Any, kind: type, timeout: float = 10) -> Any:
    """The next event of type ``kind``, skipping others."""

    async def run() -> Any:
        while True:
            event = await sub.get()
            if isinstance(event, kind):
                return event

    return await asyncio.wait_for(run(), timeout)


async def publish_until_received(
    hub: Hub, sub: Any, channel: Channel[Note], n: int, timeout: float = 15
) -> Message[Note]:
    """Publish ``n`` until it arrives (the server may still be coming back)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await hub.publish(channel, {"n": n})
            event = await next_of(sub, Message, timeout=1)
            if event.data.n == n:
                return event  # type: ignore[no-any-return]
        except (OSError, asyncio.TimeoutError, Exception):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def terminate(engine: PgextEngine, pid: int | None) -> None:
    assert pid is not None
    async with engine.connection() as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)


async def test_terminated_listener_recovers_with_gap(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    notes = Channel("fault_terminate", Note)
    async with hub.subscribe(notes) as sub:
        await hub.publish(notes, {"n": 1})
        assert (await next_of(sub, Message)).data.n == 1
        old_pid = hub.listener.backend_pid
        await terminate(ps_engine, old_pid)
        gap = await next_of(sub, Gap)
        assert gap.channels == ("fault_terminate",)
        assert gap.since <= gap.until
        assert hub.listener.backend_pid != old_pid
        await hub.publish(notes, {"n": 2})
        assert (await next_of(sub, Message)).data.n == 2
        assert hub.listener.reconnects == 1


async def test_every_plain_gap_is_reported(hub: Hub, ps_engine: PgextEngine) -> None:
    notes = Channel("fault_gaps", Note)
    rounds = 15
    async with hub.subscribe(notes) as a, hub.subscribe(notes) as b:
        gaps: list[Gap] = []
        for n in range(rounds):
            await terminate(ps_engine, hub.listener.backend_pid)
            gaps.append(await next_of(a, Gap))
            await hub.publish(notes, {"n": n})
            assert (await next_of(a, Message)).data.n == n
        other = []
        while len(other) < rounds:
            event = await b.get(timeout=5)
            if isinstance(event, Gap):
                other.append(event)
        assert hub.listener.reconnects == rounds
        assert [g.until for g in gaps] == sorted(g.until for g in gaps)
        assert all(g.reason == "connection closed" for g in gaps)


async def test_half_open_connection_detected_within_two_intervals(
    proxy: StallingProxy, postgres_config: dict[str, Any], hub: Hub
) -> None:
    # Piccolo's constructor connects synchronously (blocking this loop, which
    # also runs the proxy), so build the engine in a thread.
    engine = await asyncio.to_thread(
        PgextEngine, config=proxied_config(postgres_config, proxy.port)
    )
    plain = Channel("fault_half_open", Note)
    durable = Channel("fault_half_open_durable", Tagged, durable=True)
    async with Hub(
        engine,
        check_interval=INTERVAL,
        reconnect_delay=(0.02, 0.2),
        poll_interval=0.5,
        query_timeout=2,
    ) as far:
        async with far.subscribe(plain) as sub, far.subscribe(durable) as dsub:
            # ``hub`` publishes over a direct connection.
            await hub.publish(plain, {"n": 1})
            assert (await next_of(sub, Message)).data.n == 1
            await hub.publish(durable, {"writer": 0, "seq": 0})
            proxy.stall()
            stalled_at = time.monotonic()
            await hub.publish(plain, {"n": 2})  # may be lost: plain mode
            for seq in range(1, 5):
                await hub.publish(durable, {"writer": 0, "seq": seq})
            gap = await next_of(sub, Gap, timeout=5)
            detected = time.monotonic() - stalled_at
            assert detected < 2 * INTERVAL, f"detected after {detected:.2f}s"
            assert "timed out" in gap.reason
            await hub.publish(plain, {"n": 3})
            assert (await next_of(sub, Message)).data.n == 3
            # Durable: nothing published during the outage is lost.
            got = await collect(dsub, 5, timeout=10)
            check_complete_and_ordered(got, 1, 5)
        assert far.listener.failed_checks >= 1


def restart_server(server: LocalPostgres) -> None:
    """``pg_ctl restart`` with a log file.

    ``LocalPostgres.restart()`` runs ``pg_ctl restart`` with captured output
    and no ``-l``, so the new postmaster inherits the capture pipes and the
    call does not return until the server stops (reported to the lead); this
    does the same restart with the server's output going to a log file.
    """
    assert server.bindir is not None and server.datadir is not None
    argv = [
        str(server.bindir / "pg_ctl"),
        "-D",
        str(server.datadir),
        "restart",
        "-m",
        "fast",
        "-w",
        "-t",
        "60",
        "-l",
        str(server.datadir.parent / "server.log"),
    ]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        cwd="/",
        timeout=90,
    )


async def test_server_restart(
    local_postgres: LocalPostgres | None,
    postgres_config: dict[str, Any],
    ps_engine: PgextEngine,
) -> None:
    if local_postgres is None:
        pytest.skip(
            "server restart needs the harness's own PostgreSQL; a server given "
            "by DSN (PGEXT_POSTGRES_DSN) is not restarted"
        )
    engine = PgextEngine(config=postgres_config)
    plain = Channel("fault_restart", Note)
    durable = Channel("fault_restart_durable", Note, durable=True)
    async with (
        Hub(
            engine,
            check_interval=INTERVAL,
            reconnect_delay=(0.05, 0.5),
            poll_interval=0.5,
        ) as hub,
        hub.subscribe(plain) as sub,
        hub.subscribe(durable) as dsub,
    ):
        await hub.publish(durable, {"n": 1})
        assert (await next_of(dsub, Message)).data.n == 1
        await asyncio.to_thread(restart_server, local_postgres)
        gap = await next_of(sub, Gap, timeout=20)
        assert gap.channels == ("fault_restart",)
        got = await publish_until_received(hub, sub, plain, 2)
        assert got.data.n == 2
        await hub.publish(durable, {"n": 3})
        assert (await next_of(dsub, Message, timeout=10)).data.n == 3


async def test_durable_loses_nothing_across_100_reconnects(
    hub: Hub, ps_engine: PgextEngine
) -> None:
    chan = Channel("fault_durable_100", Tagged, durable=True)
    total = 600

    async def publisher() -> None:
        async with ps_engine.connection() as conn:
            for seq in range(total):
                await hub.publish(chan, {"writer": 0, "seq": seq}, connection=conn)
                await asyncio.sleep(0.002)

    async def chaos() -> None:
        for i in range(100):
            before = hub.listener.reconnects
            if i % 2:
                hub.listener.force_reconnect("chaos")
            else:
                await terminate(ps_engine, hub.listener.backend_pid)
            while hub.listener.reconnects == before:
                await asyncio.sleep(0.005)

    async with hub.subscribe(chan, queue_size=100) as sub:
        await asyncio.gather(publisher(), chaos())
        got = await collect(sub, total, timeout=30)
    assert hub.listener.reconnects == 100
    check_complete_and_ordered(got, 1, total)


async def test_flood_is_not_mistaken_for_a_dead_connection(
    ps_engine: PgextEngine,
) -> None:
    """Thousands of queued notifications delay the heartbeat echo past the
    check's window; arriving data must count as proof of life."""
    notes = Channel("fault_flood", Note)
    total = 30_000
    async with Hub(ps_engine, check_interval=0.1, reconnect_delay=(0.02, 0.2)) as hub:
        async with hub.subscribe(notes, queue_size=total) as sub:
            async with ps_engine.connection() as conn:
                for first in range(0, total, 2000):
                    await conn.execute(
                        "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
                        notes.name,
                        [f'{{"n": {n}}}' for n in range(first, first + 2000)],
                    )
            got = 0

            async def count() -> None:
                nonlocal got
                while got < total:
                    event = await sub.get()
                    assert isinstance(event, Message), event
                    got += 1

            await asyncio.wait_for(count(), 30)
        assert hub.listener.reconnects == 0


async def test_a_check_cut_short_by_a_lost_connection_leaves_no_stray_error(
    hub: Hub,
) -> None:
    """A liveness check whose round trip fails in the same moment as the
    check itself is cancelled (the listener saw the connection close and
    stopped checking): the round trip's error must not surface later as
    asyncio's "Task exception was never retrieved" (seen in the soak when
    the server crashed under it).  The round trip is held at its echo,
    which then fails as a dead connection would fail it."""
    loop = asyncio.get_running_loop()
    stray: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda loop, context: stray.append(str(context.get("message")))
    )
    listener = hub.listener
    try:
        conn = await asyncpg.connect(**hub.engine.config)
        try:
            check = asyncio.create_task(listener._check(conn))
            while not listener._echo:
                await asyncio.sleep(0.001)
            (echo,) = listener._echo.values()
            await asyncio.sleep(0.05)  # the SELECT done, waiting for the echo
            echo.set_exception(ConnectionResetError("connection lost"))
            check.cancel()
            with pytest.raises(asyncio.CancelledError):
                await check
        finally:
            await conn.close()
        await asyncio.sleep(0.01)
        gc.collect()
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(previous)
    assert stray == []
