"""``--admin``: Piccolo Admin on the playground's tables plus the pgext
widgets (map and time-series pages, when :mod:`pgext.admin` is importable),
a demo login, and a background publisher whose readings appear live on the
time-series widget."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import warnings
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from pgext import seam
from pgext.harness.ports import free_port
from pgext.playground import data
from pgext.playground.runtime import Playground
from pgext.playground.schema import (
    ALERTS,
    Alert,
    District,
    HourlyReading,
    Reading,
    Sensor,
    Venue,
)

USERNAME = "admin"
ALERT_ABOVE = 26.0


async def create_demo_user(playground: Playground) -> str:
    """(Re)create the ``admin`` superuser with a fresh random password and
    the session table; returns the password."""
    for table in (BaseUser, SessionsBase):
        seam.bind_engine(table, playground.postgres)
        await table.create_table(if_not_exists=True)
    await BaseUser.delete().where(BaseUser.username == USERNAME)
    password = secrets.token_urlsafe(9)
    await BaseUser.create_user(
        username=USERNAME,
        password=password,
        email="admin@example.com",
        active=True,
        admin=True,
        superuser=True,
    )
    return password


def _admin_tables() -> list[Any]:
    from piccolo_admin.endpoints import TableConfig

    spatial = {"menu_group": "Places (PostGIS)"}
    series = {"menu_group": "Sensors (time series)"}
    return [
        TableConfig(
            District,
            exclude_visible_filters=[District.boundary],
            **spatial,  # type: ignore[arg-type]
        ),
        TableConfig(
            Venue,
            exclude_visible_columns=[Venue.footprint],
            exclude_visible_filters=[Venue.location, Venue.footprint],
            **spatial,  # type: ignore[arg-type]
        ),
        TableConfig(
            Sensor,
            exclude_visible_filters=[Sensor.location],
            **series,  # type: ignore[arg-type]
        ),
        TableConfig(Reading, **series),  # type: ignore[arg-type]
    ]


def widget_links(base: str) -> dict[str, str]:
    """The widget pages of the playground's tables, framed on the city."""
    view = ",".join(f"{v:.4f}" for v in data.BOUNDS)
    temperature = "value=temperature&key=sensor_id&agg=avg"
    hourly = "value=avg_temperature&key=sensor_id&agg=max"
    return {
        "Map: venues": f"{base}/map/venue?view={view}",
        "Map: districts": f"{base}/map/district?view={view}",
        "Map: sensors": f"{base}/map/sensor?view={view}",
        "Chart: readings (live)": f"{base}/series/reading?{temperature}",
        "Chart: hourly readings": f"{base}/series/reading_hourly?{hourly}",
    }


def build_app(playground: Playground) -> tuple[Starlette, Any, str]:
    """The ASGI app, the widgets app (or None) and a note on the widgets."""
    from piccolo_admin.endpoints import create_admin

    from pgext.editors import map_editor

    # Districts are grid cells: edited with the rectangle tool in the form.
    map_editor(District.boundary, "box")

    # The playground serves plain HTTP on this machine, so its sessions are
    # rightly not "production" (secure cookies would never be sent back);
    # piccolo_api says so on every login.  Only that known notice is hidden.
    warnings.filterwarnings(
        "ignore",
        message="If running sessions in production",
        category=UserWarning,
        module="piccolo_api.session_auth.endpoints",
    )
    admin = create_admin(
        tables=_admin_tables(),
        auth_table=BaseUser,
        session_table=SessionsBase,
        site_name="pgext playground",
        production=False,
    )

    async def home(request: Any) -> Response:
        return RedirectResponse("/admin/")

    app = Starlette(routes=[Route("/", home), Mount("/admin/", admin)])
    widgets: Any = None
    try:
        from pgext.admin.app import mount_widgets
    except ImportError as error:
        note = f"pgext widgets not available ({error}); serving Piccolo Admin only"
    else:
        try:
            from pgext.widgets import annotate
        except ImportError:  # an older pgext.widgets: metadata only in the app
            pass
        else:
            for table in (Reading, HourlyReading):
                annotate(table)
        widgets = mount_widgets(
            app,
            tables=[Venue, District, Sensor, Reading, HourlyReading],
            hub=playground.live_hub,
        )
        # The widgets' default links show the whole world and the first
        # numeric column; point them at the city and at temperatures.
        links = widget_links(widgets.base)
        admin.sidebar_links = links
        pages = "\n".join(f"    {name}: {path}" for name, path in links.items())
        note = f"pgext widgets (also in the admin's sidebar):\n{pages}"
    return app, widgets, note


async def _sensor_ids(count: int) -> list[int]:
    pk = seam.primary_key(Sensor)
    rows = await Sensor.select(pk).order_by(pk).limit(count)
    return [row[seam.column_name(pk)] for row in rows]


async def publish_readings(
    playground: Playground, interval: float = 1.0, sensors: int = 5
) -> None:
    """Insert a reading for a few sensors every ``interval`` seconds and
    publish it on the time-series widget's channel (and an alert on
    ``ALERTS`` when a sensor runs hot), until cancelled."""
    from pgext.admin.live import series_channel

    channel = series_channel(Reading)
    ids = await _sensor_ids(sensors)
    temperature = {i: 18.0 + random.uniform(-2, 2) for i in ids}
    while True:
        now = datetime.now(timezone.utc)
        for sensor_id in ids:
            value = temperature[sensor_id] = round(
                min(max(temperature[sensor_id] + random.gauss(0, 0.6), 5.0), 35.0), 2
            )
            humidity = round(random.uniform(40, 70), 1)
            row = Reading(
                ts=now, sensor_id=sensor_id, temperature=value, humidity=humidity
            )
            await row.save()
            point = {
                "id": row.id,  # type: ignore[attr-defined]
                "ts": now,
                "sensor_id": sensor_id,
                "temperature": value,
                "humidity": humidity,
            }
            await playground.live_hub.publish(channel, point)
            if value > ALERT_ABOVE:
                await playground.hub.publish(
                    ALERTS,
                    Alert(
                        sensor_id=sensor_id,
                        temperature=value,
                        ts=now,
                        message=f"sensor {sensor_id} above {ALERT_ABOVE} °C",
                    ),
                )
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def _background(coro: Any) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def serve(
    playground: Playground, host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Serve until Ctrl-C (or SIGTERM); prints the URL and the demo login."""
    import uvicorn

    password = await create_demo_user(playground)
    app, widgets, note = build_app(playground)
    port = port or free_port(host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    publisher = (
        publish_readings(playground)
        if widgets is not None
        else _publish_plain(playground)
    )
    try:
        async with _background(publisher):
            print(f"\nPiccolo Admin: http://{host}:{port}/admin/", flush=True)
            print(f"  login: {USERNAME} / {password}", flush=True)
            print(f"  {note}", flush=True)
            print(
                "  a background publisher adds live readings every second", flush=True
            )
            print(
                "  Ctrl-C stops the server and everything the playground started",
                flush=True,
            )
            await server.serve()
    finally:
        if widgets is not None:
            with contextlib.suppress(Exception):
                await widgets.close()


async def _publish_plain(playground: Playground) -> None:
    """Without the widgets: still insert live readings (visible in the
    admin's Reading list) every second."""
    ids = await _sensor_ids(5)
    while True:
        now = datetime.now(timezone.utc)
        for sensor_id in ids:
            await Reading(
                ts=now,
                sensor_id=sensor_id,
                temperature=round(18 + random.gauss(0, 2), 2),
                humidity=round(random.uniform(40, 70), 1),
            ).save()
        await asyncio.sleep(1.0)
