"""A subscription: an async iterator of typed events with its own bounded
mailbox.  Created by :meth:`pgext.pubsub.Hub.subscribe`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel

from pgext.pubsub import envelope
from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import SubscriptionClosed
from pgext.pubsub.mailbox import Mailbox, Overflow
from pgext.pubsub.messages import BadMessage, Gap, Message
from pgext.pubsub.outbox import Wake

T = TypeVar("T", bound=BaseModel)

logger = logging.getLogger("pgext.pubsub")

OnInvalid = Literal["skip", "surface"]

# Wake-ups a durable subscription keeps while its consumer is busy.
_MAX_PUSHED = 256


class Switchboard(Protocol):
    """What a subscription needs of whatever serves it (the hub): to be
    attached (LISTEN, or a durable cursor started) and detached.  Narrow on
    purpose, so this module knows nothing of the hub."""

    async def attach(self, subscription: Subscription[Any]) -> None: ...

    async def detach(self, subscription: Subscription[Any]) -> None: ...


def _message_maker() -> Callable[
    [str, Any, int | None, float | None, int | None], Message[Any]
]:
    """``Message(channel, data, id, published_at, sender_pid)`` at a third
    of the cost: a frozen dataclass's ``__init__`` goes through
    ``object.__setattr__`` per field, which is most of a burst's per-message
    Python time.  Sets the same slots, so the result is the same Message."""
    new = object.__new__
    channel, data, id_, published_at, sender_pid = (
        getattr(Message, name).__set__
        for name in ("channel", "data", "id", "published_at", "sender_pid")
    )

    def make(
        name: str, value: Any, id: int | None, at: float | None, pid: int | None
    ) -> Message[Any]:
        message: Message[Any] = new(Message)
        channel(message, name)
        data(message, value)
        id_(message, id)
        published_at(message, at)
        sender_pid(message, pid)
        return message

    return make


_make_message = _message_maker()


def _channel_key(event: Any) -> Hashable:
    return getattr(event, "channel", None)


class Subscription(Generic[T]):
    """Iterate with ``async for event in subscription``; events are
    :class:`Message` (``event.data`` is the channel's model), :class:`Gap`
    (plain mode, after a reconnect) and, with ``on_invalid="surface"``,
    :class:`BadMessage`.

    Use it as ``async with hub.subscribe(...) as sub`` to be sure the LISTEN
    (or the durable cursor) is in place before you publish.
    """

    def __init__(
        self,
        switchboard: Switchboard,
        channels: tuple[Channel[T], ...],
        *,
        queue_size: int,
        overflow: Overflow,
        key: Callable[[Message[T]], Hashable] | None,
        on_invalid: OnInvalid,
        from_id: int | None,
    ) -> None:
        self._switchboard = switchboard
        self.channels = channels
        self.by_name: dict[str, Channel[T]] = {c.name: c for c in channels}
        self.durable = channels[0].durable
        self.on_invalid = on_invalid
        self.mailbox: Mailbox[Message[T] | Gap | BadMessage] = Mailbox(
            queue_size,
            overflow,
            key or _channel_key,  # type: ignore[arg-type]
        )
        #: Durable: position of the last message queued for this subscriber
        #: (resume with ``from_id=last_id`` after a crash of the consumer).
        self.last_id: int | None = from_id
        self._start_id = from_id
        self._ready: asyncio.Task[None] | None = None
        self._closed = False
        self._wake = asyncio.Event()
        self._fetcher: asyncio.Task[None] | None = None
        # Durable: relay wake-ups not yet taken by the fetcher, and whether
        # the outbox must be read (a wake-up was lost or did not chain on).
        self.pushed: deque[Wake] = deque()
        self.stale = True

    # -- lifecycle --

    async def ready(self) -> Subscription[T]:
        """Wait until messages published from now on will be received."""
        if self._closed:
            raise SubscriptionClosed("subscription closed")
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_task(
                self._switchboard.attach(self)
            )
        await asyncio.shield(self._ready)
        return self

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.mailbox.fail(SubscriptionClosed("subscription closed"))
        self._wake.set()
        if self._fetcher is not None:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._fetcher
        await self._switchboard.detach(self)

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> Subscription[T]:
        return await self.ready()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> Message[T] | Gap | BadMessage:
        if self._ready is None or not self._ready.done():
            try:
                await self.ready()
            except SubscriptionClosed:
                raise StopAsyncIteration from None
        try:
            # Straight from the queue when it has something: a burst is
            # read without one more coroutine per event.
            event = self.mailbox.get_nowait()
            if event is None:
                event = await self.mailbox.get()
            return event
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    async def get(self, timeout: float | None = None) -> Message[T] | Gap | BadMessage:
        """The next event (``asyncio.TimeoutError`` after ``timeout``)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def stats(self) -> dict[str, Any]:
        return {"channels": list(self.by_name), **self.mailbox.stats()}

    # -- delivery (called by the hub) --

    def deliver(
        self,
        channel: str,
        data: Any,
        raw: str,
        *,
        id: int | None = None,
        published_at: float | None = None,
        sender_pid: int | None = None,
        text: str | None = None,
    ) -> None:
        """Plain mode: validate and queue without waiting."""
        event = self.decode(channel, data, raw, id, published_at, sender_pid, text)
        if event is not None:
            self.mailbox.put(event, unkeyed=isinstance(event, BadMessage))

    def deliver_many(self, channel: str, notes: list[str], pids: list[int]) -> None:
        """Plain mode: validate a burst of notification texts of one channel
        (in one pydantic call) and queue the events in order, waking the
        consumer once.  Anything but a valid pgext envelope (another
        writer's JSON, bad input) goes through :meth:`deliver`'s checks."""
        spec = self.by_name.get(channel)
        if spec is None:
            return
        events: list[Message[T] | Gap | BadMessage] = []
        append = events.append
        for note, pid, item in zip(notes, pids, spec.decode_notes(notes), strict=True):
            if type(item) is dict:
                append(_make_message(channel, item["d"], None, item["ts"], pid))
                continue
            event = self._decode_note(channel, note, pid)
            if event is not None:
                append(event)
        self.mailbox.put_many(events, unkeyed=BadMessage)

    def _decode_note(
        self, channel: str, note: str, pid: int
    ) -> Message[T] | BadMessage | None:
        try:
            decoded = envelope.unwrap(note)
        except (ValueError, TypeError) as error:
            return self.invalid(channel, note, f"not JSON: {error}")
        return self.decode(
            channel,
            decoded.data,
            note,
            None,
            decoded.published_at,
            pid,
            decoded.text,
        )

    def decode(
        self,
        channel: str,
        data: Any,
        raw: str,
        id: int | None,
        published_at: float | None,
        sender_pid: int | None,
        text: str | None = None,
    ) -> Message[T] | BadMessage | None:
        """``text`` (JSON) is validated when given, else ``data``."""
        spec = self.by_name.get(channel)
        if spec is None:
            return None
        try:
            value = spec.decode(data) if text is None else spec.decode_json(text)
        except Exception as error:
            return self.invalid(channel, raw, f"does not match model: {error}", id)
        return _make_message(channel, value, id, published_at, sender_pid)

    def decode_run(
        self,
        channel: str,
        payloads: list[str],
        first_id: int | None,
        published_at: float | None,
        ids: list[int] | None = None,
    ) -> list[Message[T] | BadMessage]:
        """Durable: validate a run of one channel's JSON payloads in one
        pydantic call; positions are ``first_id``, ``first_id + 1``, ...
        (or ``ids``).  If any payload fails, the run is taken one by one, so
        only the bad ones become BadMessages."""
        spec = self.by_name.get(channel)
        if spec is None:
            return []
        if ids is None:
            assert first_id is not None
            ids = list(range(first_id, first_id + len(payloads)))
        try:
            values = spec.decode_json_many(payloads)
        except Exception:
            events = []
            for payload, id_ in zip(payloads, ids, strict=True):
                event = self.decode(
                    channel, None, payload, id_, published_at, None, payload
                )
                if event is not None:
                    events.append(event)
            return events
        make = _make_message
        return [
            make(channel, value, id_, published_at, None)
            for value, id_ in zip(values, ids, strict=True)
        ]

    def invalid(
        self, channel: str, raw: str, error: str, id: int | None = None
    ) -> BadMessage | None:
        self.mailbox.counters.invalid += 1
        if self.on_invalid == "surface":
            return BadMessage(channel, raw, error, id)
        logger.warning(
            "pgext pub/sub: skipped a bad message on %r: %s (payload %.200r)",
            channel,
            error,
            raw,
        )
        return None

    def invalid_now(self, channel: str, raw: str, error: str) -> None:
        event = self.invalid(channel, raw, error)
        if event is not None:
            self.mailbox.put(event, unkeyed=True)

    def gap(self, gap: Gap) -> None:
        self.mailbox.put(gap, unkeyed=True)

    def wake(self) -> None:
        self._wake.set()

    def push(self, wake: Wake | None) -> None:
        """Durable: a relay round's wake-up (``None``: one may be lost)."""
        if wake is None or len(self.pushed) >= _MAX_PUSHED:
            # Too far behind to keep them: the outbox has them all.
            self.pushed.clear()
            self.stale = True
        else:
            self.pushed.append(wake)
        self._wake.set()
