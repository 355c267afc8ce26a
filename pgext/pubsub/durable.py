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
        by_name = subscription.by_name
        while pushed and not subscription.stale:
            wake = pushed.popleft()
            last_id = subscription.last_id or 0
            if wake.last <= last_id:
                continue
            if wake.first != last_id + 1 or wake.payloads is None:
                subscription.stale = True
                break
            if wake.channel is not None:
                # One channel for the whole wake-up: looked up once, and its
                # messages validated in one call.
                if wake.channel in by_name:
                    events += subscription.decode_run(
                        wake.channel, wake.payloads, wake.first, wake.published_at
                    )
            else:
                assert wake.channels is not None
                for channel, start, end in _runs(wake.channels):
                    if channel in by_name:
                        events += subscription.decode_run(
                            channel,
                            wake.payloads[start:end],
                            wake.first + start,
                            wake.published_at,
                        )
            subscription.last_id = wake.last
            self.pushed_rounds += 1
        if subscription.stale:
            pushed.clear()
        return events

    @staticmethod
    def decode_rows(
        subscription: Subscription[Any], rows: list[OutboxRow]
    ) -> list[Any]:
        events: list[Any] = []
        for channel, start, end in _runs([row.channel for row in rows]):
            run = rows[start:end]
            # One timestamp per run would be wrong: rows of one read may
            # come from several rounds.  Group by round time too.
            for at, first, last in _runs([row.published_at for row in run]):
                part = run[first:last]
                events += subscription.decode_run(
                    channel,
                    [row.payload for row in part],
                    None,
                    at,
                    [row.position for row in part],
                )
        return events


def _runs(keys: list[Any]) -> list[tuple[Any, int, int]]:
    """(key, start, end) of each run of equal consecutive keys."""
    runs = []
    start = 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index] != keys[start]:
            runs.append((keys[start], start, index))
            start = index
    return runs
