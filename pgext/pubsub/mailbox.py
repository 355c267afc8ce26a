"""A bounded per-subscriber queue whose ``put`` never blocks the listener.

The listener connection's reader delivers into every subscriber's mailbox
synchronously; a slow subscriber must cost memory only up to its bound, so a
full mailbox applies the subscriber's :class:`Overflow` policy instead of
waiting.  (Durable subscriptions fill their mailbox from the outbox table and
use :meth:`Mailbox.put_wait` instead: there the table is the buffer.)
"""

from __future__ import annotations

import asyncio
import enum
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pgext.pubsub.errors import SubscriberTooSlow, SubscriptionClosed

Item = TypeVar("Item")


class Overflow(enum.Enum):
    """What a full mailbox does with a new item."""

    DROP_OLDEST = "drop_oldest"
    """Discard the oldest queued item (counted in ``dropped``)."""
    KEEP_LATEST = "keep_latest"
    """Keep only the newest item per key (``key=`` of the subscription,
    default: the channel); a replaced item counts in ``coalesced``.  If the
    queue is still full with distinct keys, the oldest is dropped."""
    DISCONNECT = "disconnect"
    """Close the subscription; iterating it raises SubscriberTooSlow."""


@dataclass
class Counters:
    delivered: int = 0
    dropped: int = 0
    coalesced: int = 0
    invalid: int = 0


class Mailbox(Generic[Item]):
    def __init__(
        self,
        maxsize: int,
        overflow: Overflow,
        key: Callable[[Item], Hashable] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.overflow = overflow
        self.key = key
        self.counters = Counters()
        self._items: deque[Item] = deque()
        # KEEP_LATEST: key -> item, insertion-ordered (oldest first).
        self._latest: OrderedDict[Hashable, Item] = OrderedDict()
        self._waiter: asyncio.Future[None] | None = None
        self._space: asyncio.Event = asyncio.Event()
        self._space.set()
        self._error: BaseException | None = None
        self._unique = 0
        self._keyed = overflow is Overflow.KEEP_LATEST

    def __len__(self) -> int:
        return len(self._latest) if self._keyed else len(self._items)

    def put(self, item: Item, *, unkeyed: bool = False) -> None:
        """Queue ``item`` now, applying the overflow policy when full.

        ``unkeyed`` items (gap events) are never coalesced with others."""
        if self._error is not None:
            return
        self._put(item, unkeyed)
        self._wake()

    def put_many(self, items: list[Item], unkeyed: type | None = None) -> None:
        """``put`` each of ``items`` in order, waking the reader once.
        Items that are instances of ``unkeyed`` are put unkeyed."""
        if self._error is not None or not items:
            return
        room = self.maxsize - len(self._items)
        if not self._keyed and len(items) <= room:
            # The common case: everything fits, no policy to apply.
            self._items.extend(items)
            if room == len(items):
                self._space.clear()
        else:
            for item in items:
                if self._error is not None:
                    break
                self._put(item, unkeyed is not None and isinstance(item, unkeyed))
        self._wake()

    def _put(self, item: Item, unkeyed: bool) -> None:
        if self._keyed:
            if unkeyed or self.key is None:
                self._unique += 1
                slot: Hashable = ("pgext-unkeyed", self._unique)
            else:
                slot = self.key(item)
            if slot in self._latest:
                del self._latest[slot]
                self.counters.coalesced += 1
            elif len(self._latest) >= self.maxsize:
                self._latest.popitem(last=False)
                self.counters.dropped += 1
            self._latest[slot] = item
        else:
            if len(self._items) >= self.maxsize:
                if self.overflow is Overflow.DISCONNECT:
                    self.fail(
                        SubscriberTooSlow(
                            f"subscriber queue full ({self.maxsize} items); "
                            "disconnected by the DISCONNECT overflow policy"
                        )
                    )
                    self.counters.dropped += 1
                    return
                self._items.popleft()
                self.counters.dropped += 1
            self._items.append(item)
        if len(self) >= self.maxsize:
            self._space.clear()

    async def put_wait(self, item: Item) -> None:
        """Queue ``item``, waiting for room instead of dropping."""
        while len(self) >= self.maxsize and self._error is None:
            self._space.clear()
            await self._space.wait()
        if self._error is not None:
            raise SubscriptionClosed("subscription closed")
        self._items.append(item) if not self._keyed else self.put(item, unkeyed=True)
        self._wake()

    async def put_all_wait(self, items: list[Item]) -> None:
        """Queue ``items`` in order, waiting for room instead of dropping
        (one wake-up of the reader per run of items that fit)."""
        if self._keyed:
            for item in items:
                await self.put_wait(item)
            return
        start = 0
        while start < len(items):
            while len(self._items) >= self.maxsize and self._error is None:
                self._space.clear()
                await self._space.wait()
            if self._error is not None:
                raise SubscriptionClosed("subscription closed")
            room = self.maxsize - len(self._items)
            self._items.extend(items[start : start + room])
            start += room
            self._wake()

    def fail(self, error: BaseException) -> None:
        """Make the next ``get`` raise ``error`` (after nothing else)."""
        if self._error is None:
            self._error = error
            self._items.clear()
            self._latest.clear()
        self._space.set()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Item | None:
        if self._keyed:
            if self._latest:
                return self._take(self._latest.popitem(last=False)[1])
        elif self._items:
            return self._take(self._items.popleft())
        if self._error is not None:
            raise self._error
        return None

    def _take(self, item: Item) -> Item:
        self.counters.delivered += 1
        self._space.set()
        return item

    async def get(self) -> Item:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def stats(self) -> dict[str, Any]:
        return {
            "queued": len(self),
            "delivered": self.counters.delivered,
            "dropped": self.counters.dropped,
            "coalesced": self.counters.coalesced,
            "invalid": self.counters.invalid,
        }
