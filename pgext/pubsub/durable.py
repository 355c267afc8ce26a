"""Durable delivery to one subscription: from the relay's wake-ups while
they follow on from its position, from the outbox table otherwise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pgext.pubsub.outbox import OutboxRow
from pgext.pubsub.subscription import Subscription

logger = logging.getLogger("pgext.pubsub")

ReadOutbox = Callable[
    [int, Sequence[str], int | None, int | None],
    Awaitable[tuple[list[OutboxRow], int]],
]


class Follower:
    """Follows durable subscriptions for a hub.  ``read`` is the hub's
    outbox read (after, channels, upto, window)."""

    def __init__(self, read: ReadOutbox, *, batch: int, poll_interval: float) -> None:
        self._read = read
        self.batch = batch
        self.poll_interval = poll_interval
        # Durable deliveries read from the table, and relay rounds taken
        # straight from their wake-up.
        self.outbox_reads = 0
        self.pushed_rounds = 0

    async def follow(self, subscription: Subscription[Any]) -> None:
        """Deliver from the relay's wake-ups while they chain on from the
        last position; read the outbox when they do not (a lost or too big
        wake-up, a resume, a reconnect) and every ``poll_interval``."""
        names = list(subscription.by_name)
        delay = 0.05
        while not subscription.closed:
            subscription._wake.clear()
            await subscription.mailbox.put_all_wait(self.take_pushed(subscription))
            if subscription.stale:
                after = subscription.last_id or 0
                try:
                    rows, reached = await self._read(after, names, None, self.batch)
                except Exception as error:
                    # Whatever failed, a durable subscriber must not stop:
                    # its position is kept, so it reads again from there.
                    logger.warning("pgext pub/sub: outbox read failed: %r", error)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                self.outbox_reads += 1
                await subscription.mailbox.put_all_wait(
                    self.decode_rows(subscription, rows)
                )
                subscription.last_id = max(after, reached)
                if reached - after >= self.batch:
                    continue  # more to read
                subscription.stale = False
            if subscription.pushed:
                continue
            try:
                await asyncio.wait_for(subscription._wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                subscription.stale = True

    def take_pushed(self, subscription: Subscription[Any]) -> list[Any]:
        """Events of the wake-ups that carry their messages and continue
        from the subscription's position; marks it stale at the first one
        that does not."""
        events: list[Any] = []
        pushed = subscription.pushed
        while pushed and not subscription.stale:
            wake = pushed.popleft()
            last_id = subscription.last_id or 0
            if wake.last <= last_id:
                continue
            if wake.first != last_id + 1 or wake.payloads is None:
                subscription.stale = True
                break
            assert wake.channels is not None
            for offset, (channel, payload) in enumerate(
                zip(wake.channels, wake.payloads, strict=True)
            ):
                if channel in subscription.by_name:
                    event = subscription.decode(
                        channel,
                        None,
                        payload,
                        wake.first + offset,
                        wake.published_at,
                        None,
                        payload,
                    )
                    if event is not None:
                        events.append(event)
            subscription.last_id = wake.last
            self.pushed_rounds += 1
        if subscription.stale:
            pushed.clear()
        return events

    @staticmethod
    def decode_rows(
        subscription: Subscription[Any], rows: list[OutboxRow]
    ) -> list[Any]:
        events = []
        for row in rows:
            event = subscription.decode(
                row.channel,
                None,
                row.payload,
                row.position,
                row.published_at,
                None,
                row.payload,
            )
            if event is not None:
                events.append(event)
        return events
