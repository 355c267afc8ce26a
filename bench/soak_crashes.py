"""Server crashes for the durable soak (``--crashes EVERY``): the soak
starts a durable server of its own (fsync and synchronous_commit on, data
on this machine's disk) and stops it every EVERY seconds the way a power
cut or an OOM kill would, with no shutdown checkpoint, so each start runs
crash recovery.  What a writer was told was committed must still be there
and be delivered; what it was not told may or may not be.

The soak's own control statements (counts, CHECKPOINT, backend kills, the
final reads) go through :class:`Control`, which outlives the restarts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench.pubsub_writers import DURABLE_SETTINGS
from pgext.harness.postgres import LocalPostgres

# A statement of the control connection fails with one of these when the
# server goes away under it or is still recovering; all are safe to retry
# (reads, CHECKPOINT, pg_terminate_backend).
_GONE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)


def start_durable_server() -> LocalPostgres:
    return LocalPostgres(settings=DURABLE_SETTINGS, extensions=()).start()


async def crash_now_and_then(
    server: LocalPostgres, every: float, counts: dict[str, int]
) -> None:
    """Crash and restart ``server`` every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(server.restart, "immediate")
        counts["crashes"] += 1


class Control:
    """The soak's control connection, reconnected whenever the server went
    away (for two minutes at most per statement)."""

    def __init__(self, dsn: str, settings: dict[str, str]) -> None:
        self.dsn = dsn
        self.settings = settings
        self._conn: Any = None

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        deadline = time.monotonic() + 120
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(
                        self.dsn, server_settings=self.settings
                    )
                return await getattr(self._conn, method)(sql, *args)
            except _GONE:
                if time.monotonic() > deadline:
                    raise
                self._conn = None
                await asyncio.sleep(0.2)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        rows: list[Any] = await self._run("fetch", sql, *args)
        return rows

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._run("execute", sql, *args)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
