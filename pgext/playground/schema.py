"""*What* the playground's database holds: a small city.

* ``District``: named areas (Voronoi polygons covering the city);
* ``Venue``: cafes, museums, parks ... with a location (point), a footprint
  (polygon), a capacity and the district they are in;
* ``Sensor``: climate sensors installed at venues (points);
* ``Reading``: sensor readings, a TimescaleDB hypertable (on the TimescaleDB
  server when there is one, else a plain table on PostgreSQL);
* ``HourlyReading``: a continuous aggregate of ``Reading`` per hour and
  sensor (a plain view using ``date_bin`` without TimescaleDB);
* ``ALERTS``: a live pub/sub channel, ``VENUE_CHANGES``: a row-change feed on
  ``Venue``.

The tables are declared without an engine; :func:`bind` points them at the
servers of a run (like Piccolo's own playground does).  The spatial tables
always live on the PostGIS server; the time-series tables on the TimescaleDB
server when one is given, so ``Reading.sensor_id`` is a plain integer (the
two may be different servers, and a foreign key cannot cross servers).
"""

from __future__ import annotations

from datetime import datetime

from piccolo.columns import (
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.readable import Readable
from piccolo.query.functions.aggregate import Avg, Count, Max, Min
from piccolo.table import Table
from pydantic import BaseModel

from pgext import seam
from pgext.postgis import Geometry
from pgext.pubsub import Channel, Feed
from pgext.timescale import (
    Columnstore,
    ContinuousAggregate,
    RefreshPolicy,
    TimeBucket,
    continuous_aggregate,
    hypertable,
)

__all__ = [
    "ALERTS",
    "SPATIAL_TABLES",
    "TIME_TABLES",
    "VENUE_CHANGES",
    "Alert",
    "District",
    "HourlyReading",
    "PlaygroundInfo",
    "Reading",
    "Sensor",
    "Venue",
    "bind",
]


class District(Table):
    name = Varchar(length=60)
    boundary = Geometry("Polygon", srid=4326)

    @classmethod
    def get_readable(cls) -> Readable:
        # What Piccolo Admin shows for a foreign key to a district.
        return Readable(template="%s", columns=[cls.name])


class Venue(Table):
    name = Varchar(length=100)
    kind = Varchar(length=30)
    location = Geometry("Point", srid=4326)
    footprint = Geometry("Polygon", srid=4326)
    capacity = Integer()
    opened = Date(null=True, default=None)
    district = ForeignKey(District)

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.name])


class Sensor(Table):
    code = Varchar(length=12)
    kind = Varchar(length=20)
    location = Geometry("Point", srid=4326)
    venue = ForeignKey(Venue)


@hypertable(
    "ts",
    chunk_interval="1 day",
    columnstore=Columnstore(
        segment_by=["sensor_id"], order_by=["ts DESC"], after="30 days"
    ),
)
class Reading(Table):
    ts = Timestamptz()
    sensor_id = Integer()
    temperature = DoublePrecision()
    humidity = DoublePrecision()


def _hourly():  # type: ignore[no-untyped-def]
    bucket = TimeBucket("1 hour", Reading.ts)
    return Reading.select(
        bucket,
        Reading.sensor_id,
        Avg(Reading.temperature, alias="avg_temperature"),
        Max(Reading.temperature, alias="max_temperature"),
        Min(Reading.temperature, alias="min_temperature"),
        Avg(Reading.humidity, alias="avg_humidity"),
        Count(alias="readings"),
    ).group_by(bucket, Reading.sensor_id)


# Real-time (materialized_only=False): rows inserted after the last refresh,
# such as the live publisher's, show up at once.
@continuous_aggregate(
    query=_hourly,
    refresh=RefreshPolicy(
        start_offset="7 days", end_offset="1 hour", schedule_interval="30 minutes"
    ),
    materialized_only=False,
)
class HourlyReading(ContinuousAggregate, tablename="reading_hourly"):
    bucket = Timestamptz()
    sensor_id = Integer()
    avg_temperature = DoublePrecision()
    max_temperature = DoublePrecision()
    min_temperature = DoublePrecision()
    avg_humidity = DoublePrecision()
    readings = Integer()


class PlaygroundInfo(Table, tablename="playground_info"):
    """One row written when a population finished: lets a second client
    (the tutorial in ``--run-examples``) reuse the data instead of rebuilding
    it."""

    size = Varchar(length=20)
    venues = Integer()
    readings = Integer()
    timescale = Varchar(length=10)
    created = Timestamptz()


class Alert(BaseModel):
    """Payload of the live ``ALERTS`` channel."""

    sensor_id: int
    temperature: float
    ts: datetime
    message: str


ALERTS: Channel[Alert] = Channel("playground.alerts", Alert)

# Inserts, updates and deletes of venues as typed RowChange events on channel
# "venue_changes" (the trigger is installed after the bulk load).
VENUE_CHANGES = Feed(Venue, include_row=True)

SPATIAL_TABLES: tuple[type[Table], ...] = (District, Venue, Sensor, PlaygroundInfo)
TIME_TABLES: tuple[type[Table], ...] = (Reading, HourlyReading)


def bind(postgres: object, timescale: object | None = None) -> None:
    """Point the spatial tables at ``postgres`` and the time-series tables at
    ``timescale`` (or ``postgres`` when there is no TimescaleDB)."""
    for table in SPATIAL_TABLES:
        seam.bind_engine(table, postgres)
    for table in TIME_TABLES:
        seam.bind_engine(table, timescale if timescale is not None else postgres)
