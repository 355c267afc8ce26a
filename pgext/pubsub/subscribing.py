"""The hub's subscribing API: ``subscribe`` checks what it is asked for
before anything reaches the server, and ``on`` is the callback style on
top of it."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, TypeVar

from pydantic import BaseModel

from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import InvalidChannel, SubscriptionClosed
from pgext.pubsub.mailbox import Overflow
from pgext.pubsub.messages import Message
from pgext.pubsub.subscription import OnInvalid, Subscription, Switchboard

T = TypeVar("T", bound=BaseModel)

logger = logging.getLogger("pgext.pubsub")

Callback = Callable[[Any], Awaitable[None] | None]


class Subscribing:
    """Mixed into :class:`~pgext.pubsub.hub.Hub`, which sets ``_closed``,
    ``_switchboard`` and ``_spawn``."""

    _closed: bool
    _switchboard: Switchboard

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        raise NotImplementedError

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
