"""The hub's private pools: spilled payloads and the outbox are read on
one, never on the listener's connection, and never wait on silence;
publishes outside a transaction run on another."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
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
    one (``generation`` counts them).

    ``keep_sessions``: connections go back without asyncpg's reset (a round
    trip of ``RESET ALL``, ``UNLISTEN *``, ... on every release).  Only for
    pools whose users never change session state: pgext's own statements.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        timeout: float,
        *,
        max_size: int = 4,
        keep_sessions: bool = False,
    ) -> None:
        self._connect = connect
        self.timeout = timeout
        self.max_size = max_size
        self.keep_sessions = keep_sessions
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
                        connect=connect,
                        min_size=0,
                        max_size=self.max_size,
                        reset=_keep_session if self.keep_sessions else None,
                    )
                    self.generation += 1
        return self._pool

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection, with no time limit (for statements whose
        caller reports failures itself, such as publishes)."""
        pool = await self._get()
        async with pool.acquire() as conn:
            yield conn

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


async def _keep_session(conn: Any) -> None:
    """The pool's reset: nothing to undo.  (asyncpg still rolls back a
    transaction left open before it calls this.)"""
