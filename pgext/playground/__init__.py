"""The pgext playground: an example database to try pgext in.

``scripts/playground`` (``python -m pgext.playground``) starts the servers,
creates a small city (districts, venues, sensors, readings, a continuous
aggregate, a live channel and a row-change feed), fills it and opens IPython.
The same schema is usable from code and from the tutorial::

    from pgext.playground import Playground
    playground = await Playground.open(POSTGRES_CONFIG, TIMESCALE_CONFIG)
    await playground.ensure("tiny")   # reuse a populated database or fill one
    ...
    await playground.close()
"""

from pgext.playground.data import SIZES, Size
from pgext.playground.runtime import Playground, Stats
from pgext.playground.schema import (
    ALERTS,
    VENUE_CHANGES,
    Alert,
    District,
    HourlyReading,
    PlaygroundInfo,
    Reading,
    Sensor,
    Venue,
)

__all__ = [
    "ALERTS",
    "SIZES",
    "VENUE_CHANGES",
    "Alert",
    "District",
    "HourlyReading",
    "Playground",
    "PlaygroundInfo",
    "Reading",
    "Sensor",
    "Size",
    "Stats",
    "Venue",
]
