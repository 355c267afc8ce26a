"""Live updates of the time-series widget: one pub/sub channel per table,
streamed to browsers by :class:`pgext.pubsub.bridge.Bridge` over SSE.

A producer publishes rows (or just the columns the chart needs) on the
table's channel::

    await hub.publish(series_channel(Reading), {"ts": now, "device": 3, "value": 2.5})

and every open chart of that table plots the point as it arrives.
"""

from __future__ import annotations

from typing import Any

from piccolo.table import Table
from piccolo.utils.pydantic import create_pydantic_model

from pgext import seam
from pgext.pubsub import Channel

# Channel names allow letters, digits and ``_.:-``; the prefix keeps the
# widgets' channels apart from an application's own.
PREFIX = "admin."

_CHANNELS: dict[type[Table], Channel[Any]] = {}


def series_channel(table: type[Table]) -> Channel[Any]:
    """The channel the time-series widget of ``table`` listens to.  Its
    payload model is the table's pydantic model with every field optional."""
    channel = _CHANNELS.get(table)
    if channel is None:
        name = seam.table_name(table)
        model = create_pydantic_model(
            table,
            all_optional=True,
            model_name=f"{name.title().replace('_', '')}LivePoint",
        )
        channel = Channel(PREFIX + name, model)
        _CHANNELS[table] = channel
    return channel
