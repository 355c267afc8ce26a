"""The one supervised LISTEN connection of a hub.

It is opened with ``engine.get_new_connection()`` (never a pooled connection:
asyncpg's pool sends ``UNLISTEN *`` when a connection goes back) and kept
alive by a supervisor task:

* reconnect with exponential backoff and full jitter, re-``LISTEN`` every
  wanted channel, then report the outage to the hub (which turns it into
  gap events for plain subscribers and a catch-up for durable ones);
* liveness, every ``check_interval``: one statement that NOTIFYs a private
  heartbeat channel and reads ``pg_listening_channels()``; the check fails
  when the statement or the heartbeat echo does not come back within half
  an interval, or when a LISTEN registration went missing.  A connection
  that stops answering is therefore caught within 1.5 intervals;
* TCP keepalive on the socket (asyncpg has no option for it), and asyncpg's
  termination callback for connections the server closes.

Notifications are handed on in bursts: asyncpg schedules one callback per
notification of a read; the first of them schedules a flush, which runs
after all of that read's callbacks and passes the whole burst on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pgext import seam
from pgext.pubsub.channel import validate_channel_name

logger = logging.getLogger("pgext.pubsub.listener")

Connect = Callable[[], Awaitable[Any]]
# A burst of (channel, payload, sender pid), in arrival order.
OnNotifications = Callable[[list[tuple[str, str, int]]], None]
OnReconnect = Callable[[float, float, str], None]

# Notifications handed on per call at most (see _flush).
_CHUNK = 256

_CHECK_SQL = (
    "SELECT pg_notify($1, $2), array(SELECT pg_listening_channels()) AS listening"
)


def set_keepalive(connection: Any, idle: float) -> bool:
    """Enable TCP keepalive (and a user timeout for unacknowledged data) on
    the connection's socket; False when there is no TCP socket."""
    sock = seam.connection_socket(connection)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    seconds = max(1, int(idle))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", seconds),
        ("TCP_KEEPINTVL", seconds),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", seconds * 4 * 1000),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    return True


class Listener:
    def __init__(
        self,
        connect: Connect,
        on_notifications: OnNotifications,
        on_reconnect: OnReconnect,
        *,
        check_interval: float = 5.0,
        reconnect_delay: tuple[float, float] = (0.05, 5.0),
        connect_timeout: float = 10.0,
        keepalive: bool = True,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._connect = connect
        self._on_notifications = on_notifications
        self._burst: list[tuple[str, str, int]] = []
        self._taken = 0  # of _burst, already handed on
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_reconnect = on_reconnect
        self.check_interval = check_interval
        self.reconnect_delay = reconnect_delay
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self._on_lost = on_lost
        self.heartbeat_channel = validate_channel_name(
            f"pgext_hb_{secrets.token_hex(8)}", internal=True
        )
        self._wanted: set[str] = set()
        self._active: set[str] = set()
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._loss_reason = ""
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._echo: dict[str, asyncio.Future[None]] = {}
        self._tokens = 0
        self._last_heard = 0.0
        # Observability (and what tests assert on).
        self.reconnects = 0
        self.failed_checks = 0
        self.last_ok = 0.0
        self.backend_pid: int | None = None

    # -- public --

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._supervise(), name="pgext-pubsub-listener"
            )

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        self.start()
        await self._connected.wait()

    async def listen(self, channel: str) -> None:
        """LISTEN on ``channel``; returns once the registration is live."""
        self._wanted.add(channel)
        self.start()
        while channel in self._wanted and not self._closing:
            await self._connected.wait()
            conn = self._conn
            try:
                async with self._lock:
                    if conn is not self._conn or conn is None:
                        continue
                    if channel not in self._active:
                        await conn.add_listener(channel, self._notified)
                        self._active.add(channel)
                return
            except Exception as error:  # the connection broke under us
                self._mark_lost(conn, f"LISTEN failed: {error!r}")
                await asyncio.sleep(0.01)

    async def unlisten(self, channel: str) -> None:
        self._wanted.discard(channel)
        conn = self._conn
        if conn is None or channel not in self._active:
            return
        try:
            async with self._lock:
                if conn is self._conn and channel in self._active:
                    self._active.discard(channel)
                    await conn.remove_listener(channel, self._notified)
        except Exception as error:
            self._mark_lost(conn, f"UNLISTEN failed: {error!r}")

    def force_reconnect(self, reason: str = "forced") -> None:
        """Drop the current connection (tests, operators)."""
        if self._conn is not None:
            self._mark_lost(self._conn, reason)

    def abort(self) -> None:
        """Stop at once: terminate the connection, cancel the supervisor."""
        self._closing = True
        self._lost.set()
        self._connected.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def close(self) -> None:
        self._closing = True
        self._lost.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
            if not conn.is_closed():
                conn.terminate()

    # -- supervisor --

    async def _supervise(self) -> None:
        attempt = 0
        lost_since: float | None = None
        while not self._closing:
            try:
                conn = await asyncio.wait_for(self._connect(), self.connect_timeout)
            except Exception as error:
                attempt += 1
                delay = self._backoff(attempt)
                logger.warning(
                    "pgext pub/sub: listener connect failed (%r); retry in %.2fs",
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            try:
                await asyncio.wait_for(self._setup(conn), self.connect_timeout)
            except Exception as error:
                logger.warning("pgext pub/sub: listener setup failed: %r", error)
                conn.terminate()
                self._conn = None
                attempt += 1
                await asyncio.sleep(self._backoff(attempt))
                continue
            attempt = 0
            self.last_ok = time.time()
            if lost_since is not None:
                self.reconnects += 1
                logger.warning(
                    "pgext pub/sub: listener reconnected after %s",
                    self._loss_reason,
                )
                self._on_reconnect(lost_since, time.time(), self._loss_reason)
            self._connected.set()
            checker = asyncio.get_running_loop().create_task(self._check_loop(conn))
            try:
                await self._lost.wait()
            finally:
                checker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await checker
            if self._on_lost is not None and not self._closing:
                self._on_lost(self._loss_reason)
            # Messages may have been lost since the last proof of life.
            lost_since = self.last_ok
            self._connected.clear()
            self._conn = None
            self._active.clear()
            if not conn.is_closed():
                conn.terminate()

    async def _setup(self, conn: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._lost.clear()
        if self.keepalive:
            set_keepalive(conn, self.check_interval)
        conn.add_termination_listener(self._terminated)
        async with self._lock:
            self._conn = conn
            self._active.clear()
            self.backend_pid = conn.get_server_pid()
            await conn.add_listener(self.heartbeat_channel, self._heartbeat)
            for channel in sorted(self._wanted):
                await conn.add_listener(channel, self._notified)
                self._active.add(channel)

    def _backoff(self, attempt: int) -> float:
        base, cap = self.reconnect_delay
        return random.uniform(base, min(cap, base * 2 ** min(attempt, 30)))

    def _mark_lost(self, conn: Any, reason: str) -> None:
        if conn is not None and conn is self._conn and not self._lost.is_set():
            self._loss_reason = reason
            self._lost.set()

    def _terminated(self, conn: Any) -> None:
        self._mark_lost(conn, "connection closed")

    # -- liveness --

    async def _check_loop(self, conn: Any) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            reason = await self._check(conn)
            if reason:
                self.failed_checks += 1
                self._mark_lost(conn, reason)
                return
            self.last_ok = time.time()

    async def _check(self, conn: Any) -> str:
        """Empty string when alive, else why not."""
        self._tokens += 1
        token = str(self._tokens)
        echo: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echo[token] = echo

        async def round_trip() -> str:
            async with self._lock:
                row = await conn.fetchrow(_CHECK_SQL, self.heartbeat_channel, token)
            missing = self._active - set(row["listening"])
            if missing:
                return f"LISTEN registrations lost: {sorted(missing)}"
            await echo
            return ""

        task = asyncio.get_running_loop().create_task(round_trip())
        # Should the check itself be cancelled (the connection was seen
        # closed) just as the round trip fails, nobody reads its error:
        # read it here, or asyncio reports it later as never retrieved.
        task.add_done_callback(_read_outcome)
        window = self.check_interval / 2
        try:
            while True:
                window_start = time.monotonic()
                done, _ = await asyncio.wait({task}, timeout=window)
                if done:
                    return task.result()
                # A flood of notifications queues the echo behind it; data
                # still arriving proves the connection alive, so keep
                # waiting.  A half-open connection delivers nothing.
                if self._last_heard < window_start:
                    return "liveness check timed out"
        except Exception as error:
            return f"liveness check failed: {error!r}"
        finally:
            if not task.done():
                task.cancel()
            self._echo.pop(token, None)

    # -- asyncpg callbacks (run on the reader; must not block) --

    def _heartbeat(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        echo = self._echo.get(payload)
        if echo is not None and not echo.done():
            echo.set_result(None)

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if conn is not self._conn:
            return
        burst = self._burst
        burst.append((channel, payload, pid))
        if len(burst) == 1:
            # Runs after the callbacks asyncpg has already queued for this
            # read (call_soon is first in, first out).
            assert self._loop is not None  # set with self._conn
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        burst, start = self._burst, self._taken
        end = start + _CHUNK
        more = end < len(burst)
        if more:
            # Hand on a chunk and let consumers run before the next one: a
            # long backlog handed on whole keeps thousands of events alive
            # at once, which costs more (allocator, collector) than it saves.
            self._taken = end
            burst = burst[start:end]
        else:
            self._burst, self._taken = [], 0
            if start:
                burst = burst[start:]
        self._last_heard = time.monotonic()
        try:
            self._on_notifications(burst)
        except Exception:
            logger.exception("pgext pub/sub: dispatch failed")
        if more:
            assert self._loop is not None
            self._loop.call_soon(self._flush)


def _read_outcome(task: asyncio.Task[str]) -> None:
    if not task.cancelled():
        task.exception()
