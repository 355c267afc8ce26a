"""The IPython shell: the tables and helpers imported, top-level ``await``
running on the loop that owns the engine pools, example queries printed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pgext.playground.runtime import Playground

EXAMPLES = """\
Tables: District, Venue, Sensor (PostGIS), Reading, HourlyReading (time series).
Also imported: playground, hub, ALERTS, VENUE_CHANGES, F (PostGIS functions),
D / Area (units), TimeBucket, Avg/Count/Max/Min, Point, box, datetime helpers.

Try (top-level await works):

  await Venue.select(Venue.name, Venue.kind, Venue.district.name).limit(5)
  centre = Point(13.40, 52.52)
  await Venue.count().where(Venue.location.dwithin(centre, D(km=1)))
  await Venue.select(Venue.name).order_by(Venue.location.knn(centre)).limit(3)
  await District.select(District.name, F.area(District.boundary, alias="m2"))
  await Venue.count().where(Venue.location.within(Venue.district.boundary))
  bucket = TimeBucket("6 hours", Reading.ts)
  await Reading.select(bucket, Avg(Reading.temperature)).group_by(bucket)
  await HourlyReading.select().where(HourlyReading.sensor_id == 1).limit(3)
  async with hub.subscribe(VENUE_CHANGES.channel) as changes:
      await Venue.update({Venue.capacity: 99}).where(Venue.id == 1)
      print(await changes.get(timeout=5))

The tutorial (tutorial.md in pgext.playground) walks through all of it; exit()
or Ctrl-D leaves and stops everything the playground started.
"""


def tables() -> str:
    """The tables as the classes declaring them (Piccolo's playground
    prints them the same way)."""
    from pgext import seam
    from pgext.playground import schema

    declared = (
        schema.District,
        schema.Venue,
        schema.Sensor,
        schema.Reading,
        schema.HourlyReading,
    )
    return "Tables:\n\n" + "\n".join(seam.table_source(t) for t in declared)


def namespace(playground: Playground) -> dict[str, Any]:
    """What the shell (and the examples) see."""
    from datetime import date, datetime, timedelta, timezone

    import shapely
    from piccolo.query.functions.aggregate import Avg, Count, Max, Min, Sum
    from shapely import Point, box

    from pgext.playground import schema
    from pgext.postgis import functions as F
    from pgext.postgis.geojson import feature_collection
    from pgext.postgis.measure import Area, D
    from pgext.timescale import First, Last, TimeBucket, TimeBucketGapfill

    names: dict[str, Any] = {name: getattr(schema, name) for name in schema.__all__}
    names.update(
        playground=playground,
        hub=playground.hub,
        live_hub=playground.live_hub,
        postgres=playground.postgres,
        series_engine=playground.series,
        F=F,
        D=D,
        Area=Area,
        feature_collection=feature_collection,
        TimeBucket=TimeBucket,
        TimeBucketGapfill=TimeBucketGapfill,
        First=First,
        Last=Last,
        Avg=Avg,
        Count=Count,
        Max=Max,
        Min=Min,
        Sum=Sum,
        shapely=shapely,
        Point=Point,
        box=box,
        date=date,
        datetime=datetime,
        timedelta=timedelta,
        timezone=timezone,
        asyncio=asyncio,
    )
    return names


def run_shell(
    playground: Playground,
    runner: Callable[[Coroutine[Any, Any, Any]], Any],
    banner: str,
) -> None:
    """Start IPython; each cell's ``await`` runs through ``runner`` (the
    ``asyncio.Runner`` that set the playground up, so the pools and hubs are
    on the same loop, and Ctrl-C cancels the running cell)."""
    from IPython.terminal.ipapp import TerminalIPythonApp
    from traitlets.config import Config

    config = Config()
    config.InteractiveShell.autoawait = True
    config.InteractiveShell.banner2 = "\n".join([banner, "", tables(), EXAMPLES])
    config.TerminalInteractiveShell.confirm_exit = False
    config.TerminalIPythonApp.display_banner = True
    app = TerminalIPythonApp.instance(config=config, user_ns=namespace(playground))
    app.initialize(argv=[])  # type: ignore[no-untyped-call]
    # Set on the shell, not in the Config: traitlets deep-copies config
    # values, and the runner holds the loop.
    assert app.shell is not None
    app.shell.loop_runner = runner
    app.start()  # type: ignore[no-untyped-call]
