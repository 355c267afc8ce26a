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


class SendPool:
    """Connections for publishes outside a transaction.

    A list of idle connections instead of an asyncpg pool: taking one and
    giving it back are a pop and an append, where asyncpg's pool shields
    every release in a task of its own and (unless told otherwise) resets
    the session with a round trip.  pgext's publishing statements leave no
    session state, so there is nothing to reset; a connection whose
    statement failed or was cancelled is terminated, not reused.  At most
    ``max_size`` are in use at once; more publishes wait."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], max_size: int) -> None:
        self._connect = connect
        self.max_size = max_size
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(max_size)
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                candidate = self._idle.pop()
                if not candidate.is_closed():
                    conn = candidate
            if conn is None:
                conn = await self._connect()
            try:
                yield conn
            except BaseException:
                conn.terminate()
                raise
            if self._closed or conn.is_closed() or conn.is_in_transaction():
                conn.terminate()
            else:
                self._idle.append(conn)

    def terminate(self) -> None:
        """Drop the idle connections now (they are suspect)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def close(self, timeout: float = 2) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await asyncio.wait_for(conn.close(), timeout)
            except (asyncio.TimeoutError, Exception):
                conn.terminate()
