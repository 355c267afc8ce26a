"""In-process fan-out of one channel to many browser clients.

One hub subscription per channel (not per browser): the hub decodes and
validates each message once, a pump task encodes it once and offers the frame
to every connected client without awaiting.  Each client has its own bounded
:class:`~pgext.pubsub.mailbox.Mailbox`, so a client whose socket stopped
draining costs at most its queue bound and is dropped or skipped ahead by its
overflow policy; the pump and every other client never wait for it.

Durable channels resume a reconnecting client from its last id: rows after it
are read from the outbox up to the position the pump had reached when the
client registered, and everything later comes from the live stream, so the
client sees each message exactly once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

from pgext.pubsub.bridge_wire import (
    Frame,
    gap_frame,
    listener_gap_frame,
    message_frame,
    overflow_frame,
)
from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import SubscriptionClosed
from pgext.pubsub.mailbox import Mailbox, Overflow
from pgext.pubsub.messages import Gap, Message

logger = logging.getLogger("pgext.pubsub.bridge")

MessageKey = Callable[[Message[Any]], Hashable]


class Client:
    """One connected browser: a bounded queue of frames plus counters."""

    def __init__(
        self,
        channel: str,
        queue_size: int,
        overflow: Overflow,
        key: MessageKey | None = None,
    ) -> None:
        self.channel = channel
        frame_key: Callable[[Frame], Hashable] | None = None
        if key is not None:
            user_key = key

            def frame_key(frame: Frame) -> Hashable:
                return user_key(frame.message)

        self.mailbox: Mailbox[Frame] = Mailbox(queue_size, overflow, frame_key)
        self._reported_drops = 0
        self._held: Frame | None = None
        self.sent = 0
        self.replayed = 0

    def offer(self, frame: Frame) -> None:
        """Queue without waiting (called by the pump for every client)."""
        self.mailbox.put(frame, unkeyed=frame.message is None)

    def close(self, error: BaseException | None = None) -> None:
        self.mailbox.fail(error or SubscriptionClosed("stream closed"))

    @property
    def dropped(self) -> int:
        return self.mailbox.counters.dropped + self.mailbox.counters.coalesced

    async def next(self) -> Frame:
        """The next frame; an overflow notice comes first if this client lost
        messages since the last call.  Raises SubscriptionClosed when the
        stream ends or SubscriberTooSlow under the DISCONNECT policy."""
        if self._held is not None:
            frame, self._held = self._held, None
            return frame
        return self._notice_first(await self.mailbox.get())

    def next_nowait(self) -> Frame | None:
        """Like :meth:`next` but ``None`` instead of waiting."""
        if self._held is not None:
            held, self._held = self._held, None
            return held
        frame = self.mailbox.get_nowait()
        return None if frame is None else self._notice_first(frame)

    def _notice_first(self, frame: Frame) -> Frame:
        lost = self.mailbox.counters.dropped - self._reported_drops
        if lost > 0 and self.mailbox.overflow is not Overflow.KEEP_LATEST:
            self._reported_drops += lost
            self._held = frame
            return overflow_frame(self.channel, lost)
        return frame


class Fanout:
    """The shared subscription of one channel and its connected clients."""

    def __init__(self, hub: Any, channel: Channel[Any], *, buffer: int) -> None:
        self.hub = hub
        self.channel = channel
        self.buffer = buffer
        self.clients: set[Client] = set()
        #: Durable: position of the last message offered to the clients.
        self.position: int = 0
        self.closed = False
        self.dispatched = 0
        self._subscription: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The hub's own queue only has to absorb bursts between two runs of
        # the pump, which never waits; durable subscriptions never drop.
        self._subscription = self.hub.subscribe(
            self.channel, queue_size=self.buffer, overflow=Overflow.DROP_OLDEST
        )
        await self._subscription.ready()
        if self.channel.durable:
            self.position = int(self._subscription.last_id or 0)
        self._task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"pgext-bridge-{self.channel.name}"
        )

    def add(self, client: Client) -> int:
        """Register ``client``; frames offered from now on have ids above
        the returned position (the pump never awaits between updating the
        position and offering, so nothing can fall in between)."""
        if self.closed:
            raise SubscriptionClosed("channel stream closed")
        self.clients.add(client)
        return self.position

    def discard(self, client: Client) -> None:
        self.clients.discard(client)

    async def _pump(self) -> None:
        subscription = self._subscription
        name = self.channel.name
        seen_drops = 0
        try:
            async for event in subscription:
                drops = subscription.mailbox.counters.dropped
                if drops != seen_drops:
                    self._offer(overflow_frame(name, drops - seen_drops))
                    seen_drops = drops
                if isinstance(event, Message):
                    frame = message_frame(name, event.data, event.id, event)
                    if event.id is not None:
                        self.position = event.id
                elif isinstance(event, Gap):
                    frame = listener_gap_frame(name, event)
                else:
                    continue
                self._offer(frame)
        except Exception:
            logger.exception("pgext bridge: the stream of %r failed", name)
        finally:
            # The hub closed (or the subscription failed): end every stream.
            self.closed = True
            for client in list(self.clients):
                client.close()

    def _offer(self, frame: Frame) -> None:
        self.dispatched += 1
        for client in list(self.clients):
            client.offer(frame)

    async def close(self) -> None:
        self.closed = True
        if self._subscription is not None:
            await self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for client in list(self.clients):
            client.close()

    # -- durable resume --

    async def replay(self, after: int, upto: int, batch: int) -> AsyncIterator[Frame]:
        """Frames of messages with ``after < id <= upto`` from the outbox,
        preceded by a gap frame if pruning removed some of that range."""
        name = self.channel.name
        oldest = await self.hub.oldest_position()
        if oldest is None or oldest > after + 1:
            # Pruning deletes whole batches from the start, so positions
            # after `after` are gone (of this channel or another: positions
            # are shared between channels, hence "may have missed").
            yield gap_frame(name, reason="pruned", after=after, oldest=oldest)
        cursor = after
        while cursor < upto:
            rows, reached = await self.hub.read_outbox(cursor, [name], upto, batch)
            for row in rows:
                frame = self._decode(row.position, row.payload)
                if frame is not None:
                    yield frame
            if reached <= cursor:
                return
            cursor = reached

    def _decode(self, position: int, raw: str) -> Frame | None:
        try:
            data = self.channel.decode(json.loads(raw))
        except Exception as error:
            # Same rule as the hub's default: log and skip a bad message.
            logger.warning(
                "pgext bridge: skipped outbox row %s on %r: %s",
                position,
                self.channel.name,
                error,
            )
            return None
        message = Message(self.channel.name, data, position)
        return message_frame(self.channel.name, data, position, message)
