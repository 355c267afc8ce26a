"""The hub: publish to channels and fan notifications out to subscribers.

One hub per process and engine.  It owns one dedicated LISTEN connection
(:mod:`pgext.pubsub.listener`) shared by every subscription, a small private
pool for reading spilled payloads and the outbox, and the outbox relay
(:mod:`pgext.pubsub.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel

from pgext.pubsub import publishing
from pgext.pubsub.channel import Channel
from pgext.pubsub.durable import Follower
from pgext.pubsub.errors import (
    CONNECTION_FAILURES,
    InvalidChannel,
    PublishFailed,
    SchemaMissing,
    SubscriptionClosed,
)
from pgext.pubsub.inbound import Inbound
from pgext.pubsub.listener import Listener, set_keepalive
from pgext.pubsub.mailbox import Overflow
from pgext.pubsub.messages import BadMessage, Gap, Message
from pgext.pubsub.outbox import (
    HEAD_SQL,
    OLDEST_SQL,
    PRUNE_OUTBOX_SQL,
    PRUNE_SPILL_SQL,
    REPAIR_SQL,
    UNNUMBERED_SQL,
    OutboxRow,
    Relay,
    read_outbox,
)
from pgext.pubsub.readpool import ReadPool, consume_result
from pgext.pubsub.schema import WAKE_CHANNEL
from pgext.pubsub.subscription import OnInvalid, Subscription

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

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


class Hub:
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
            poll_interval=poll_interval,
            timeout=query_timeout,
        )
        self.reads = ReadPool(self._connect_with_keepalive, query_timeout)
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

    # -- publishing --

    async def publish(
        self,
        channel: Channel[T],
        payload: T | dict[str, Any],
        *,
        connection: Any = None,
        along: Any = None,
    ) -> None:
        """Validate ``payload`` and publish it on ``channel``.

        Inside ``engine.transaction()`` the message joins that transaction:
        delivered at commit, never on rollback.  ``connection`` (an asyncpg
        connection) overrides where the statement runs.  Plain channels
        NOTIFY (payloads too big for NOTIFY go through the spill table);
        durable channels only INSERT into the outbox: no NOTIFY here.

        ``along`` is a data-modifying statement to run in the SAME statement
        as the publish (one round trip, atomic even outside a transaction):
        a Piccolo insert/update/delete query, or ``(sql, args)`` with ``$n``
        placeholders.  Its result is not returned.
        """
        if not isinstance(channel, Channel):
            raise InvalidChannel("publish needs a pgext.pubsub.Channel")
        text = channel.encode(payload)
        prefix, args = publishing.along(along)
        try:
            if connection is not None:
                await self._send(connection, channel, text, prefix, args)
                return
            try:
                async with self.engine.connection() as conn:
                    await self._send(conn, channel, text, prefix, args)
            except asyncpg.InternalClientError:
                # "cannot switch to state": a pooled connection broken by a
                # terminated backend, refused before anything was sent, so
                # one retry on a fresh connection cannot publish twice.  (In
                # a transaction the transaction is lost anyway: no retry.)
                if self.engine.current_transaction.get() is not None:
                    raise
                async with self.engine.connection() as conn:
                    await self._send(conn, channel, text, prefix, args)
        except SchemaMissing:
            raise
        except CONNECTION_FAILURES as error:
            raise PublishFailed(
                f"publishing on {channel.name!r} failed: {error!r}"
            ) from error

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until durable messages published here are numbered and their
        wake-up sent (useful before shutdown and in tests)."""
        await self.relay.flush(timeout)

    async def _send(
        self,
        conn: Any,
        channel: Channel[Any],
        text: str,
        prefix: str = "",
        args: Sequence[Any] = (),
    ) -> None:
        await publishing.send(conn, channel, text, prefix, args)
        if channel.durable:
            self.relay.kick()

    # -- subscribing --

    def subscribe(
        self,
        *channels: Channel[T],
        queue_size: int = 1000,
        overflow: Overflow = Overflow.DROP_OLDEST,
        key: Callable[[Message[T]], Hashable] | None = None,
        on_invalid: OnInvalid = "skip",
        from_id: int | None = None,
    ) -> Subscription[T]:
        """A subscription to ``channels`` (all plain or all durable).

        ``async for event in hub.subscribe(orders): ...`` yields
        :class:`Message` / :class:`Gap` / :class:`BadMessage`.

        :param queue_size: bound of this subscriber's queue.
        :param overflow: what a full queue does in plain mode (durable
            subscriptions never drop: they stop reading the outbox instead).
        :param key: the key of ``Overflow.KEEP_LATEST`` (default: channel).
        :param on_invalid: ``"skip"`` logs and counts a payload that is not
            JSON or fails validation; ``"surface"`` yields a BadMessage.
        :param from_id: durable only: deliver messages after this position
            (``0``: everything retained); default: only new messages.
        """
        if self._closed:
            raise SubscriptionClosed("hub closed")
        if not channels:
            raise InvalidChannel("subscribe needs at least one channel")
        for channel in channels:
            if not isinstance(channel, Channel):
                raise InvalidChannel("subscribe takes pgext.pubsub.Channel objects")
        if len({c.durable for c in channels}) > 1:
            raise InvalidChannel(
                "a subscription's channels must all be durable or all plain"
            )
        if len({c.name for c in channels}) != len(channels):
            raise InvalidChannel("a channel is listed twice")
        if from_id is not None and not channels[0].durable:
            raise InvalidChannel("from_id needs durable channels")
        if on_invalid not in ("skip", "surface"):
            raise ValueError("on_invalid must be 'skip' or 'surface'")
        return Subscription(
            self._switchboard,
            tuple(channels),
            queue_size=queue_size,
            overflow=overflow,
            key=key,
            on_invalid=on_invalid,
            from_id=from_id,
        )

    async def on(
        self,
        channel: Channel[T],
        callback: Callback,
        **options: Any,
    ) -> Subscription[T]:
        """Callback style: ``callback(event)`` (sync or async) runs for every
        event, one at a time, in a task of its own; an exception in the
        callback is logged and does not stop the subscription.  Returns the
        subscription (``await sub.close()`` to stop)."""
        subscription = self.subscribe(channel, **options)
        await subscription.ready()

        async def consume() -> None:
            async for event in subscription:
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("pgext pub/sub: callback failed")

        self._spawn(consume(), f"pgext-pubsub-callback-{channel.name}")
        return subscription

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

    async def oldest_position(self) -> int | None:
        """The first position still in the outbox (None: nothing retained)."""
        oldest: int | None = await self._read("fetchval", OLDEST_SQL)
        return oldest

    # -- maintenance --

    async def prune(self, older_than: datetime.timedelta) -> tuple[int, int]:
        """Delete delivered outbox rows and spilled payloads older than
        ``older_than``; returns (outbox rows, spill rows) deleted."""
        if older_than.total_seconds() < 0:
            raise ValueError("older_than must not be negative")
        async with self.engine.connection() as conn:
            outbox = await conn.execute(PRUNE_OUTBOX_SQL, older_than)
            spill = await conn.execute(PRUNE_SPILL_SQL, older_than)
        return int(outbox.split()[-1]), int(spill.split()[-1])

    async def check_outbox(self) -> int:
        """How many committed durable messages no relay round numbered (so
        no subscriber will ever get them): 0 on a healthy outbox.  pgext
        0.1.0's stamper could leave such rows (see :meth:`repair_outbox`).
        The count is also kept in ``stats()["unnumbered_rows"]``."""
        count: int = await self._read("fetchval", UNNUMBERED_SQL)
        self.unnumbered_rows = count
        return count

    async def repair_outbox(self) -> int:
        """Number the rows :meth:`check_outbox` counts, after everything
        already numbered, and wake subscribers: they receive those messages
        late (at-least-once allows that) instead of never.  Returns how many
        rows were numbered.  Safe to run at any time, from any process."""
        async with self.engine.connection() as conn:
            repaired: int = await conn.fetchval(REPAIR_SQL)
        self.unnumbered_rows = 0
        return repaired

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


# Re-exported for type annotations of callbacks.
__all__ = ["BadMessage", "Gap", "Hub", "Message"]
