"""The PGlite TimescaleDB server multiplexes clients onto one session and
re-syncs that session's LISTEN set after each (UN)LISTEN.  A LISTEN run
again from asyncpg's statement cache (no new Parse) must stay registered:
it used to be tracked only when parsed, so the re-sync dropped it and pgext's
listener saw "LISTEN registrations lost" (a live chart opened a second
time)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from pgext.harness.timescale import PgliteTimescale

CHANNEL = "admin.reading"


@pytest.fixture(scope="module")
def pglite() -> Iterator[str]:
    with PgliteTimescale() as server:
        yield server.dsn


async def test_a_cached_listen_run_again_stays_registered(pglite: str) -> None:
    listener = await asyncpg.connect(pglite)
    sender = await asyncpg.connect(pglite)
    received: asyncio.Queue[str] = asyncio.Queue()

    def heard(conn: object, pid: int, channel: str, payload: str) -> None:
        received.put_nowait(payload)

    try:
        for round_ in range(3):
            await listener.add_listener(CHANNEL, heard)
            listening = await listener.fetchval(
                "SELECT array(SELECT pg_listening_channels())"
            )
            assert listening == [CHANNEL], (round_, listening)
            await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, str(round_))
            assert await asyncio.wait_for(received.get(), 10) == str(round_)
            await listener.remove_listener(CHANNEL, heard)
            assert not await listener.fetchval(
                "SELECT array(SELECT pg_listening_channels())"
            )
    finally:
        await listener.close()
        await sender.close()
