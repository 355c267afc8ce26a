"""Errors of the pub/sub package; all derive from :class:`pgext.errors.PgextError`."""

from __future__ import annotations

import asyncio

import asyncpg

from pgext.errors import InvalidIdentifier, InvalidValue, PgextError

# What a read or write of the hub's own connections raises when the server or
# the network fails; the hub retries these with backoff and lets the rest out.
CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # asyncpg's "cannot switch to state ...": a connection left mid-operation
    # by a broken link or a terminated backend; it must be replaced.
    asyncpg.InternalClientError,
)


class PubSubError(PgextError):
    """Base class of pub/sub errors."""


class InvalidChannel(PubSubError, InvalidIdentifier):
    """A channel name Postgres would mangle or pgext reserves."""


class InvalidPayload(PubSubError, InvalidValue):
    """A payload that does not validate against its channel's model (raised
    to the publisher before anything is sent)."""


class PublishFailed(PubSubError):
    """Publishing failed on the connection or the server; the driver's
    exception is the ``__cause__``.  Whether the message was committed is
    unknown when the connection broke while the statement was running (a
    durable consumer sees it at most once more, never half)."""


class SubscriberTooSlow(PubSubError):
    """Raised by a subscription whose queue overflowed under the
    ``Overflow.DISCONNECT`` policy; the subscription is closed."""


class SubscriptionClosed(PubSubError):
    """The subscription (or its hub) was closed."""


class SchemaMissing(PubSubError):
    """The pub/sub tables are not installed (run the migration or
    :func:`pgext.pubsub.install_schema`)."""
