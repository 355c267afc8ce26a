"""Issue 6: the admin widgets' data endpoints, end to end over HTTP (ASGI,
with the admin's session check), on the harness PostgreSQL (PostGIS).

* Chart: time to the chart's data for a 10M-row plain table (``--quick``:
  1M).  ``widget default`` is what the page asks first: the whole range in
  500 buckets per series, 4 series keys; above a million estimated rows in
  range the server reads a repeatable block sample (the response says so).
  ``exact, whole range`` forces the exact aggregate (every row read by
  ``date_bin`` + ``GROUP BY``) for comparison; ``widget, one day`` is a
  zoomed view (exact: few rows in range).  Goal: widget default < 300 ms.
* Map: time to the map's GeoJSON with 100k point features in view
  (``--quick``: 20k).  ``widget (clusters)`` is the endpoint (over the cap, so
  grid clusters built in SQL); ``all features, pgext feature_collection`` is
  the naive alternative (every feature in view as GeoJSON, built in SQL by
  pgext.postgis); ``widget, zoomed (<= cap features)`` is a street-level view.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import DoublePrecision, Timestamptz, Varchar
from piccolo.table import Table
from piccolo_api.session_auth.tables import SessionsBase
from starlette.applications import Starlette

from bench.runner import JobResult, compare, progress
from pgext import seam
from pgext.admin import SeriesLimits, create_widgets_app
from pgext.engine import PgextEngine
from pgext.postgis import Geometry
from pgext.postgis.geojson import feature_collection

if TYPE_CHECKING:
    from bench.run import BenchContext


class BenchAdmReading(Table):
    ts = Timestamptz()
    device = Varchar(length=10)
    value = DoublePrecision()


class BenchAdmPlace(Table):
    name = Varchar(length=20)
    spot = Geometry("Point", srid=4326)


async def _fill_readings(engine: PgextEngine, rows: int) -> None:
    """``rows`` one-second readings over 8 devices, generated server-side
    in chunks (with progress), then indexed and analysed."""
    await BenchAdmReading.alter().drop_table(if_exists=True)
    await BenchAdmReading.create_table()
    chunk = 1_000_000
    started = time.perf_counter()
    async with engine.connection() as conn:
        for first in range(0, rows, chunk):
            last = min(rows, first + chunk) - 1
            await conn.execute(
                "INSERT INTO bench_adm_reading (ts, device, value) "
                "SELECT '2026-01-01 00:00+00'::timestamptz + g * interval '1 second', "
                "'d' || (g % 8), (g % 1000) / 10.0 "
                "FROM generate_series($1::int, $2::int) g",
                first,
                last,
            )
            progress(
                f"readings: {last + 1:,}/{rows:,} rows "
                f"({time.perf_counter() - started:.0f} s)"
            )
        await conn.execute("CREATE INDEX ON bench_adm_reading (ts)")
        await conn.execute("VACUUM ANALYZE bench_adm_reading")
    progress(f"readings ready ({time.perf_counter() - started:.0f} s)")


async def _fill_places(engine: PgextEngine, rows: int) -> None:
    await BenchAdmPlace.alter().drop_table(if_exists=True)
    await BenchAdmPlace.create_table()
    async with engine.connection() as conn:
        # A grid of points over western Europe (-5..15 E, 40..55 N).
        await conn.execute(
            "INSERT INTO bench_adm_place (name, spot) SELECT 'p' || g, "
            "ST_SetSRID(ST_MakePoint(-5 + random() * 20, 40 + random() * 15), 4326) "
            "FROM generate_series(1, $1::int) g",
            rows,
        )
        await conn.execute("VACUUM ANALYZE bench_adm_place")
    progress(f"places ready: {rows:,}")


def _get(
    client: httpx.AsyncClient, url: str, **params: str
) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        response = await client.get(url, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

    return job


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    readings = ctx.size(10_000_000, 1_000_000)
    places = ctx.size(100_000, 20_000)
    engine = PgextEngine(config=config)
    await engine.start_connection_pool(min_size=1, max_size=4)
    await engine.capabilities()
    tables: list[type[Table]] = [BaseUser, SessionsBase, BenchAdmReading, BenchAdmPlace]
    for table in tables:
        seam.bind_engine(table, engine)
    results: list[JobResult] = []
    widgets: Any = None
    try:
        for table in (BaseUser, SessionsBase):
            await table.create_table(if_not_exists=True)
        await BaseUser.delete().where(BaseUser.username == "bench_admin_widgets")
        user = await BaseUser.create_user(
            username="bench_admin_widgets",
            password="bench-password-1",
            email="bench_admin_widgets@example.com",
            admin=True,
            active=True,
        )
        session = await SessionsBase.create_session(user_id=user.id)
        await _fill_readings(engine, readings)
        await _fill_places(engine, places)

        widgets = create_widgets_app([BenchAdmReading, BenchAdmPlace])
        exact = create_widgets_app(
            [BenchAdmReading],
            series=SeriesLimits(exact_rows=10**12),
        )
        app = Starlette(routes=[widgets.mount()])
        exact_app = Starlette(routes=[exact.mount()])
        cookies = {"id": session.token}
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                cookies=cookies,
            ) as client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=exact_app),
                base_url="http://bench",
                cookies=cookies,
            ) as exact_client,
        ):
            series_url = "/widgets/api/series/bench_adm_reading"
            first = (await client.get(series_url, params={"key": "device"})).json()
            progress(
                f"chart: {len(first['buckets'])} buckets x {len(first['series'])} "
                f"series, sampled {first['sampled_percent']}"
            )
            results.append(
                await compare(
                    f"chart data, {readings:,}-row table (500 buckets x 8 series)",
                    {
                        "exact, whole range": _get(
                            exact_client, series_url, key="device"
                        ),
                        "widget default (whole range)": _get(
                            client, series_url, key="device"
                        ),
                        "widget, one day (exact)": _get(
                            client,
                            series_url,
                            key="device",
                            start="2026-01-02T00:00:00Z",
                            end="2026-01-03T00:00:00Z",
                        ),
                    },
                    baseline="exact, whole range",
                    units=1,
                    unit_name="chart",
                    server=await ctx.describe(config),
                    repeat=ctx.size(5, 3),
                    notes=(
                        f"widget default sampled {first['sampled_percent']:.2f}% "
                        "of blocks (TABLESAMPLE SYSTEM, repeatable)"
                        if first["sampled_percent"]
                        else "widget default exact (estimate below exact_rows)"
                    ),
                )
            )
            map_url = "/widgets/api/map/bench_adm_place/features"
            view = "-6,39,16,56"
            answer = (await client.get(map_url, params={"bbox": view})).json()
            progress(f"map: {answer['pgext']} with {len(answer['features'])} features")

            async def naive() -> None:
                await feature_collection(
                    BenchAdmPlace,
                    BenchAdmPlace.spot,
                    [BenchAdmPlace.name],
                    bbox=(-6, 39, 16, 56),
                    precision=7,
                )

            results.append(
                await compare(
                    f"map GeoJSON, {places:,} features in view",
                    {
                        "all features, pgext feature_collection": naive,
                        "widget (clusters)": _get(client, map_url, bbox=view, zoom="5"),
                        "widget, zoomed (<= cap features)": _get(
                            client, map_url, bbox="2.0,48.0,2.6,48.4", zoom="11"
                        ),
                    },
                    baseline="all features, pgext feature_collection",
                    units=1,
                    unit_name="view",
                    server=await ctx.describe(config),
                    repeat=ctx.size(5, 3),
                    notes=f"clusters cover {answer['pgext']['count']:,} rows",
                )
            )
        await exact.close()
    finally:
        if widgets is not None:
            await widgets.close()
        for table in (BenchAdmReading, BenchAdmPlace):
            await table.alter().drop_table(if_exists=True)
        await engine.close_connection_pool()
    return results
