"""The hub's private read pool: spilled payloads and the outbox are read
here, never on the listener's connection, and never wait on silence."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

R = TypeVar("R")


def consume_result(task: asyncio.Task[Any]) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it."""
    if not task.cancelled():
        task.exception()


class ReadPool:
    """A small pool made on first use.  A read (or getting its connection)
    that gets no answer within ``timeout`` may be on a half-open
    connection: the whole pool is dropped, and the next read makes a new
    one (``generation`` counts them)."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], timeout: float) -> None:
        self._connect = connect
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.generation = 0

    async def _get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:

                    async def connect(*args: Any, **kwargs: Any) -> Any:
                        return await self._connect()

                    self._pool = await asyncpg.create_pool(
                        connect=connect, min_size=0, max_size=4
                    )
                    self.generation += 1
        return self._pool

    async def fetch(self, method: str, sql: str, *args: Any) -> Any:
        """``conn.<method>(sql, *args)`` on a pooled connection."""

        async def query(conn: Any) -> Any:
            return await getattr(conn, method)(sql, *args)

        return await self.run(query)

    async def run(self, operation: Callable[[Any], Awaitable[R]]) -> R:
        """``operation(conn)`` on a pooled connection, within ``timeout``."""
        pool = await self._get()

        async def run() -> R:
            async with pool.acquire() as conn:
                try:
                    return await operation(conn)
                except asyncpg.InternalClientError:
                    # Its protocol state is broken: never hand it out again.
                    conn.terminate()
                    raise

        task = asyncio.get_running_loop().create_task(run())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout)
        except asyncio.CancelledError:
            task.cancel()
            task.add_done_callback(consume_result)
            raise
        if done:
            return task.result()
        # Not wait_for: cancelling a query on a half-open connection waits
        # for an answer that never comes.  Aborting the pool's connections
        # ends the query; its task finishes on its own.
        if self._pool is pool:
            self._pool = None
        pool.terminate()
        task.add_done_callback(consume_result)
        raise asyncio.TimeoutError(f"no answer within {self.timeout}s")

    def terminate(self) -> None:
        """Drop the pool now (its connections are suspect)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def close(self, timeout: float = 2) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # A half-open connection would make a graceful close wait forever.
            await asyncio.wait_for(pool.close(), timeout)
        except (asyncio.TimeoutError, Exception):
            pool.terminate()
