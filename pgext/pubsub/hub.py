"""The hub: publish to channels and fan notifications out to subscribers.

One hub per process and engine.  It owns one dedicated LISTEN connection
(:mod:`pgext.pubsub.listener`) shared by every subscription, a small private
pool for reading spilled payloads and the outbox, another for publishes
outside a transaction, and the outbox relay (:mod:`pgext.pubsub.outbox`).
Publishing (:mod:`pgext.pubsub.publisher`), the subscribing API
(:mod:`pgext.pubsub.subscribing`) and outbox upkeep
(:mod:`pgext.pubsub.maintenance`) are mixed in from modules of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel

from pgext.pubsub.durable import Follower
from pgext.pubsub.errors import (
    CONNECTION_FAILURES,
    SchemaMissing,
)
from pgext.pubsub.inbound import Inbound
from pgext.pubsub.listener import Listener, set_keepalive
from pgext.pubsub.maintenance import OutboxMaintenance
from pgext.pubsub.messages import BadMessage, Gap, Message
from pgext.pubsub.outbox import HEAD_SQL, OutboxRow, Relay, read_outbox
from pgext.pubsub.publisher import Publishing
from pgext.pubsub.readpool import ReadPool, SendPool, consume_result
from pgext.pubsub.schema import WAKE_CHANNEL
from pgext.pubsub.subscribing import Subscribing
from pgext.pubsub.subscription import Subscription

T = TypeVar("T", bound=BaseModel)

logger = logging.getLogger("pgext.pubsub")

SPILL_FETCH_SQL = "SELECT payload FROM pgext_spill WHERE id = $1"

Callback = Callable[[Any], Awaitable[None] | None]


class _HubSwitchboard:
    """The hub's side of :class:`~pgext.pubsub.subscription.Switchboard`."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def attach(self, subscription: Subscription[Any]) -> None:
        await self._hub._attach(subscription)

    async def detach(self, subscription: Subscription[Any]) -> None:
        await self._hub._detach(subscription)


class Hub(Publishing, Subscribing, OutboxMaintenance):
    """Publish and subscribe on one :class:`~pgext.engine.PgextEngine`.

    :param check_interval: seconds between liveness checks of the listener
        connection; a half-open connection is caught within 1.5 intervals.
    :param reconnect_delay: (first, maximum) reconnect delay; the delay
        doubles per failed attempt, with full jitter.
    :param poll_interval: durable subscribers and the relay poll the outbox
        this often even without a wake-up notification.
    :param relay_window: how long the relay waits after a durable publish
        before numbering rows, so that a burst of commits is numbered in one
        round with one wake-up notification.
    :param relay_max_window: the most the relay's window grows to while
        durable messages arrive as a sustained stream (default four times
        ``relay_window``): fewer, fuller rounds under load, at the price of
        up to this much more latency.
    :param query_timeout: limit of the hub's own reads and relay rounds; a
        connection that exceeds it is dropped and replaced.  Default: two
        liveness intervals, so a half-open read connection is replaced as
        soon as a half-open listener would be.
    """

    def __init__(
        self,
        engine: Any,
        *,
        check_interval: float = 5.0,
        reconnect_delay: tuple[float, float] = (0.05, 5.0),
        poll_interval: float = 1.0,
        relay_window: float = 0.001,
        relay_max_window: float | None = None,
        batch: int = 500,
        keepalive: bool = True,
        query_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        if query_timeout is None:
            query_timeout = max(2 * check_interval, 1.0)
        self.query_timeout = query_timeout
        self.poll_interval = poll_interval
        self.batch = batch
        self._routes: dict[str, list[Subscription[Any]]] = {}
        self._durable: list[Subscription[Any]] = []
        self._inbound = Inbound(
            self._routes, self._durable, self._fetch_spill, self._spawn
        )
        self.listener = Listener(
            engine.get_new_connection,
            self._inbound.receive,
            self._on_reconnect,
            check_interval=check_interval,
            reconnect_delay=reconnect_delay,
            keepalive=keepalive,
            on_lost=self._on_link_lost,
        )
        self.relay = Relay(
            self._connect_with_keepalive,
            batch=max(batch, 100),
            window=relay_window,
            max_window=relay_max_window,
            poll_interval=poll_interval,
            timeout=query_timeout,
        )
        # pgext's reads and publishes leave no session state behind, so
        # neither pool pays asyncpg's reset round trip per release.
        self.reads = ReadPool(
            self._connect_with_keepalive, query_timeout, keep_sessions=True
        )
        self.sends = SendPool(self._connect_with_keepalive, _pool_size(engine))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._switchboard = _HubSwitchboard(self)
        self._closed = False
        self.follower = Follower(
            self.read_outbox, batch=batch, poll_interval=poll_interval
        )
        # Unknown (None) until check_outbox() counts them.
        self.unnumbered_rows: int | None = None

    # -- lifecycle --

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Close every subscription, stop the relay (after stamping what was
        published through this hub) and the listener.

        Bounded in time: whatever still waits after ``timeout`` seconds (a
        statement on a half-open connection never answers) is aborted, its
        connections terminated instead of closed politely."""
        if self._closed:
            return
        graceful = asyncio.get_running_loop().create_task(self._close_gracefully())
        # asyncio.wait, not wait_for: wait_for would wait for the cancelled
        # close, which is what may hang.
        done, _ = await asyncio.wait({graceful}, timeout=timeout)
        if done:
            graceful.result()
            return
        logger.warning(
            "pgext pub/sub: hub did not close within %.1fs; aborting its connections",
            timeout,
        )
        self._abort()
        done, _ = await asyncio.wait({graceful}, timeout=1.0)
        if not done:
            graceful.cancel()
            graceful.add_done_callback(consume_result)

    def _abort(self) -> None:
        """Terminate every connection the hub holds; what waited on one
        fails at once."""
        self._closed = True
        self.relay.abort()
        self.listener.abort()
        self.reads.terminate()
        self.sends.terminate()
        for task in list(self._tasks):
            task.cancel()

    async def _close_gracefully(self) -> None:
        if self.relay.pending:
            # Number what was committed through this hub so its wake-up goes
            # out now; rows of transactions still open are left to the relay
            # (or polling) of other hubs.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.stamp_once(), 2)
        self._closed = True
        subscriptions = {id(s): s for subs in self._routes.values() for s in subs}
        subscriptions.update({id(s): s for s in self._durable})
        for subscription in subscriptions.values():
            await subscription.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.relay.close()
        await self.listener.close()
        await self.reads.close()
        await self.sends.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(
            coro, name=name
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _connect_with_keepalive(self) -> Any:
        conn = await self.engine.get_new_connection()
        if self.listener.keepalive:
            set_keepalive(conn, self.listener.check_interval)
        return conn

    async def _read(self, method: str, sql: str, *args: Any) -> Any:
        return await self.reads.fetch(method, sql, *args)

    # -- subscribing --

    async def _attach(self, subscription: Subscription[Any]) -> None:
        """Switchboard.attach (a subscription becomes ready)."""
        if subscription.durable:
            await self._attach_durable(subscription)
            return
        for name in subscription.by_name:
            self._routes.setdefault(name, []).append(subscription)
        for name in subscription.by_name:
            await self.listener.listen(name)

    async def _attach_durable(self, subscription: Subscription[Any]) -> None:
        try:
            await self._start_durable(subscription)
        except BaseException:
            await self._detach(subscription)
            raise

    async def _start_durable(self, subscription: Subscription[Any]) -> None:
        self._durable.append(subscription)
        await self.listener.listen(WAKE_CHANNEL)
        self.relay.start()
        if subscription.last_id is None:
            try:
                head = await self._read("fetchval", HEAD_SQL)
            except asyncpg.UndefinedTableError as error:
                raise SchemaMissing(
                    "pgext pub/sub tables are missing: run the pub/sub "
                    "migration or pgext.pubsub.install_schema(engine)"
                ) from error
            subscription.last_id = int(head or 0)
        subscription._fetcher = self._spawn(
            self.follower.follow(subscription), "pgext-pubsub-durable"
        )

    async def _detach(self, subscription: Subscription[Any]) -> None:
        if subscription in self._durable:
            self._durable.remove(subscription)
            if not self._durable and not self._closed:
                await self.listener.unlisten(WAKE_CHANNEL)
            return
        for name in subscription.by_name:
            subs = self._routes.get(name, [])
            if subscription in subs:
                subs.remove(subscription)
            if not subs:
                self._routes.pop(name, None)
                if not self._closed:
                    await self.listener.unlisten(name)

    async def _fetch_spill(self, spill_id: int) -> str | None:
        delay = 0.05
        while True:
            try:
                body: str | None = await self._read(
                    "fetchval", SPILL_FETCH_SQL, spill_id
                )
                return body
            except CONNECTION_FAILURES as error:
                logger.warning("pgext pub/sub: spill fetch failed: %r", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _on_link_lost(self, reason: str) -> None:
        """The listener's connection failed its liveness check.  The hub's
        other connections most likely travel the same path: replace them
        now rather than let each wait out ``query_timeout``.  (A backend
        the server terminated says nothing about the others.)"""
        if self._closed or reason == "connection closed":
            return
        self.relay.drop_connection()
        self.reads.terminate()
        self.sends.terminate()

    def _on_reconnect(self, since: float, until: float, reason: str) -> None:
        channels = tuple(sorted(self._routes))
        if channels:
            logger.warning(
                "pgext pub/sub: messages on %s may be lost (%s)", channels, reason
            )
        seen: set[int] = set()
        for name, subs in self._routes.items():
            for subscription in subs:
                if id(subscription) in seen:
                    continue
                seen.add(id(subscription))
                mine = tuple(c for c in channels if c in subscription.by_name)
                subscription.gap(Gap(mine or (name,), since, until, reason))
        for subscription in self._durable:
            subscription.push(None)

    # -- durable delivery --

    async def read_outbox(
        self,
        after: int,
        channels: Sequence[str],
        upto: int | None = None,
        window: int | None = None,
    ) -> tuple[list[OutboxRow], int]:
        """Durable messages of ``channels`` after position ``after`` (at
        most ``window`` positions further, default ``batch``; none past
        ``upto``) and the position read up to, where the next read starts
        even if no row matched.  Runs on the hub's private pool."""
        size = window or self.batch

        async def read(conn: Any) -> tuple[list[OutboxRow], int]:
            return await read_outbox(conn, after, channels, size, upto)

        return await self.reads.run(read)

    def stats(self) -> dict[str, Any]:
        return {
            "connected": self.listener.connected,
            "reconnects": self.listener.reconnects,
            "failed_checks": self.listener.failed_checks,
            "listener_pid": self.listener.backend_pid,
            "channels": sorted(self._routes),
            "durable_subscriptions": len(self._durable),
            "relay_rounds": self.relay.rounds,
            "relay_stamped": self.relay.stamped,
            "outbox_reads": self.follower.outbox_reads,
            "pushed_rounds": self.follower.pushed_rounds,
            "unnumbered_rows": self.unnumbered_rows,
        }


def _pool_size(engine: Any) -> int:
    """As many publishing connections as the engine's pool may open."""
    pool = getattr(engine, "pool", None)
    return pool.get_max_size() if pool is not None else 4


# Re-exported for type annotations of callbacks.
__all__ = ["BadMessage", "Gap", "Hub", "Message"]
