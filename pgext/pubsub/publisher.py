"""The hub's publishing side: ``publish`` and ``publish_many``, where they
run (the caller's connection or transaction, else a pooled one) and how a
broken pooled connection or a missing schema is reported.

The statements themselves are in :mod:`pgext.pubsub.publishing`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel

from pgext.pubsub import publishing
from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import (
    CONNECTION_FAILURES,
    InvalidChannel,
    PublishFailed,
    SchemaMissing,
)
from pgext.pubsub.outbox import Relay
from pgext.pubsub.readpool import SendPool

T = TypeVar("T", bound=BaseModel)


class Publishing:
    """Mixed into :class:`~pgext.pubsub.hub.Hub`, which sets ``engine``
    (a :class:`~pgext.engine.PgextEngine`), ``relay`` and ``sends`` (a
    pool of its own for publishes outside a transaction)."""

    engine: Any
    relay: Relay
    sends: SendPool

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
        app, args = publishing.along(along)
        if connection is not None:
            # The common case of a busy writer, without the closure and the
            # connection choice below.
            try:
                await publishing.send(connection, channel, text, app, args)
            except SchemaMissing:
                raise
            except CONNECTION_FAILURES as error:
                raise _publish_failed(channel, error) from error
            if channel.durable:
                self.relay.kick(1)
            return

        async def send(conn: Any) -> None:
            await publishing.send(conn, channel, text, app, args)

        # An along= statement may bind values that need the engine's codecs.
        await self._publish_on(channel, connection, send, 1, own=app is None)

    async def publish_many(
        self,
        channel: Channel[T],
        payloads: Iterable[T | dict[str, Any]],
        *,
        connection: Any = None,
    ) -> int:
        """Validate every payload, then publish them all on ``channel`` in
        ONE statement (one round trip), in the order given; returns how many.

        All or nothing: every payload is validated before anything is sent,
        and the statement is atomic (inside ``engine.transaction()`` it
        joins the transaction like :meth:`publish`).  Durable channels get
        one outbox row per message, numbered in this order; plain channels
        one notification per message.  Should a plain payload be too big
        for NOTIFY, the batch is sent as one statement per message inside
        one transaction instead (still atomic and in order).
        """
        if not isinstance(channel, Channel):
            raise InvalidChannel("publish_many needs a pgext.pubsub.Channel")
        texts = channel.encode_many(payloads)
        if not texts:
            return 0

        async def send(conn: Any) -> None:
            await publishing.send_many(conn, channel, texts)

        await self._publish_on(channel, connection, send, len(texts), own=True)
        return len(texts)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until durable messages published here are numbered and their
        wake-up sent (useful before shutdown and in tests)."""
        await self.relay.flush(timeout)

    async def _publish_on(
        self,
        channel: Channel[Any],
        connection: Any,
        send: Callable[[Any], Awaitable[None]],
        count: int,
        own: bool,
    ) -> None:
        """Run ``send`` on the right connection, then tell the relay about
        ``count`` new outbox rows (durable channels).  ``own``: outside a
        transaction ``send`` may run on the hub's pool."""
        try:
            if connection is not None:
                await send(connection)
            elif own and self.engine.current_transaction.get() is None:
                await self._on_own_pool(send)
            else:
                await self._on_engine(send)
        except SchemaMissing:
            raise
        except CONNECTION_FAILURES as error:
            raise _publish_failed(channel, error) from error
        if channel.durable:
            self.relay.kick(count)

    async def _on_own_pool(self, send: Callable[[Any], Awaitable[None]]) -> None:
        """pgext's statements change no session state, so this pool skips
        asyncpg's reset, a second round trip per publish on a pooled
        connection (see :class:`~pgext.pubsub.readpool.SendPool`)."""
        try:
            async with self.sends.connection() as conn:
                await send(conn)
        except asyncpg.InternalClientError:
            # As below: refused before anything was sent.
            async with self.sends.connection() as conn:
                await send(conn)

    async def _on_engine(self, send: Callable[[Any], Awaitable[None]]) -> None:
        try:
            async with self.engine.connection() as conn:
                await send(conn)
        except asyncpg.InternalClientError:
            # "cannot switch to state": a pooled connection broken by a
            # terminated backend, refused before anything was sent, so one
            # retry on a fresh connection cannot publish twice.  (In a
            # transaction the transaction is lost anyway: no retry.)
            if self.engine.current_transaction.get() is not None:
                raise
            async with self.engine.connection() as conn:
                await send(conn)


__all__ = ["Publishing"]


def _publish_failed(channel: Channel[Any], error: BaseException) -> PublishFailed:
    """What a publish raises when its connection failed under it (both
    paths of :meth:`Publishing.publish` and ``publish_many``)."""
    return PublishFailed(f"publishing on {channel.name!r} failed: {error!r}")
