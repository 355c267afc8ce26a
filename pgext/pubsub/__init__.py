"""Pub/sub on LISTEN/NOTIFY for Piccolo: typed channels, a supervised shared
listener, durable (outbox) channels and row-change feeds.

::

    class Order(BaseModel):
        id: int
        total: float

    orders = Channel("orders", Order)
    hub = Hub(engine)
    async with hub.subscribe(orders) as sub:
        await hub.publish(orders, Order(id=1, total=9.5))
        async for event in sub:
            ...

Plain channels are at-most-once (NOTIFY has no replay); durable channels
(``Channel(..., durable=True)``) are at-least-once and resumable by id.
"""

from pgext.pubsub.channel import Channel, validate_channel_name
from pgext.pubsub.errors import (
    InvalidChannel,
    InvalidPayload,
    PublishFailed,
    PubSubError,
    SchemaMissing,
    SubscriberTooSlow,
    SubscriptionClosed,
)
from pgext.pubsub.feeds import Feed, RowChange, add_feed_steps
from pgext.pubsub.hub import Hub
from pgext.pubsub.mailbox import Overflow
from pgext.pubsub.messages import BadMessage, Event, Gap, Message
from pgext.pubsub.schema import add_schema_steps, install_schema, uninstall_schema
from pgext.pubsub.subscription import Subscription

__all__ = [
    "BadMessage",
    "Channel",
    "Event",
    "Feed",
    "Gap",
    "Hub",
    "InvalidChannel",
    "InvalidPayload",
    "Message",
    "Overflow",
    "PubSubError",
    "PublishFailed",
    "RowChange",
    "SchemaMissing",
    "SubscriberTooSlow",
    "Subscription",
    "SubscriptionClosed",
    "add_feed_steps",
    "add_schema_steps",
    "install_schema",
    "uninstall_schema",
    "validate_channel_name",
]
