"""What a subscription yields: typed messages, gap events and (by option)
payloads that failed to decode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Message(Generic[T]):
    """One message.

    :param id: the outbox position for durable channels (strictly increasing
        in commit order; resume with ``subscribe(..., from_id=id)``), ``None``
        for plain NOTIFY messages.
    :param published_at: publisher's clock (epoch seconds) when known.
    :param sender_pid: backend pid of the notifying session (plain mode).
    """

    channel: str
    data: T
    id: int | None = None
    published_at: float | None = None
    sender_pid: int | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """Plain-mode subscribers may have missed messages between ``since`` and
    ``until`` (epoch seconds): the listener connection was lost and has been
    re-established.  Resynchronise from the source of truth if that matters,
    or use a durable channel."""

    channels: tuple[str, ...]
    since: float
    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A notification that could not be decoded or validated (only yielded
    with ``on_invalid="surface"``; by default it is logged and skipped)."""

    channel: str
    raw: str
    error: str
    id: int | None = None


Event = Message[T] | Gap | BadMessage
