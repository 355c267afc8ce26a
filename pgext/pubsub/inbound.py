"""Fan a burst of notifications out to subscribers.

The listener hands over everything one read of its connection brought (see
:meth:`pgext.pubsub.listener.Listener`), in arrival order.  Consecutive
notifications of one channel go to each subscriber in one call, so decoding
and validation run once per burst rather than once per message
(:meth:`pgext.pubsub.subscription.Subscription.deliver_many`).

Order per channel is kept across spilled payloads: a payload too big for
NOTIFY arrives as a reference to the spill table; while it is being fetched,
everything after it on that channel waits behind it.

Runs on the listener's reader: never awaits (spill fetches run in tasks).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pgext.pubsub import envelope
from pgext.pubsub.outbox import parse_wake
from pgext.pubsub.schema import WAKE_CHANNEL
from pgext.pubsub.subscription import Subscription

logger = logging.getLogger("pgext.pubsub")

Note = tuple[str, str, int]  # channel, payload, sender pid
Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]
FetchSpill = Callable[[int], Awaitable[str | None]]


def _spill_id(payload: str) -> int | None:
    # The substring test keeps the full parse off the common path.
    if '"spill"' not in payload:
        return None
    try:
        return envelope.unwrap(payload).spill_id
    except (ValueError, TypeError):
        return None  # the subscriber reports it as not JSON


class Inbound:
    def __init__(
        self,
        routes: dict[str, list[Subscription[Any]]],
        durable: list[Subscription[Any]],
        fetch_spill: FetchSpill,
        spawn: Spawn,
    ) -> None:
        self._routes = routes
        self._durable = durable
        self._fetch_spill = fetch_spill
        self._spawn = spawn
        # Channel -> notifications queued behind a spill being fetched.
        self._pending: dict[str, deque[tuple[str, int]]] = {}

    def receive(self, notes: list[Note]) -> None:
        """The listener's callback: one burst, in arrival order."""
        start, count = 0, len(notes)
        while start < count:
            channel = notes[start][0]
            end = start + 1
            while end < count and notes[end][0] == channel:
                end += 1
            run = notes[start:end] if start or end < count else notes
            start = end
            try:
                self._run(channel, run)
            except Exception:
                logger.exception("pgext pub/sub: dispatch failed on %r", channel)

    def _run(self, channel: str, run: list[Note]) -> None:
        if channel == WAKE_CHANNEL:
            for _, payload, _ in run:
                wake = parse_wake(payload)
                for subscription in self._durable:
                    subscription.push(wake)
            return
        if not self._routes.get(channel):
            return
        pending = self._pending.get(channel)
        if pending is not None:
            pending.extend((payload, pid) for _, payload, pid in run)
            return
        payloads = [payload for _, payload, _ in run]
        pids = [pid for _, _, pid in run]
        self._deliver(channel, payloads, pids)

    def _deliver(self, channel: str, payloads: list[str], pids: list[int]) -> None:
        """Deliver up to the first spill reference; queue the rest behind
        its fetch."""
        for index, payload in enumerate(payloads):
            if _spill_id(payload) is not None:
                self._fan_out(channel, payloads[:index], pids[:index])
                self._pending[channel] = deque(
                    zip(payloads[index:], pids[index:], strict=True)
                )
                self._spawn(self._resolve_spills(channel), "pgext-pubsub-spill")
                return
        self._fan_out(channel, payloads, pids)

    def _fan_out(self, channel: str, payloads: list[str], pids: list[int]) -> None:
        if not payloads:
            return
        for subscription in self._routes.get(channel, ()):
            try:
                subscription.deliver_many(channel, payloads, pids)
            except Exception:
                logger.exception("pgext pub/sub: delivery failed on %r", channel)

    async def _resolve_spills(self, channel: str) -> None:
        queue = self._pending[channel]
        try:
            while queue:
                payload, pid = queue[0]
                spill_id = _spill_id(payload)
                if spill_id is None:
                    # Everything up to the next spill goes out in one call.
                    payloads: list[str] = []
                    pids: list[int] = []
                    while queue and _spill_id(queue[0][0]) is None:
                        note, sender = queue.popleft()
                        payloads.append(note)
                        pids.append(sender)
                    self._fan_out(channel, payloads, pids)
                    continue
                body = await self._fetch_spill(spill_id)
                queue.popleft()
                published_at = envelope.unwrap(payload).published_at
                for subscription in self._routes.get(channel, []):
                    if body is None:
                        subscription.invalid_now(
                            channel, payload, "spilled payload no longer exists"
                        )
                        continue
                    subscription.deliver(
                        channel,
                        None,
                        body,
                        published_at=published_at,
                        sender_pid=pid,
                        text=body,
                    )
        finally:
            self._pending.pop(channel, None)
