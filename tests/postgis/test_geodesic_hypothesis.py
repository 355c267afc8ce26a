"""Properties of pgext's one rule for lon/lat data, on random points
worldwide (poles and the antimeridian included), on Geometry(4326) and
Geography columns alike:

* ``order_by(col.knn(q)).limit(k)`` returns the first k rows of the geodesic
  order, with the user's filter, an offset, and on a joined table;
* ``col.dwithin(q, D(km=r))`` returns exactly the rows whose geodesic
  distance is at most r;
* both hold for the same queries prepared once (:func:`pgext.postgis.prepare`)
  and run with the point as a parameter.

The truth is raw SQL that pgext does not write: ``ST_Distance`` on the
geography type (spheroid), sorted by Postgres over every row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from piccolo.columns import ForeignKey, Integer
from piccolo.table import Table
from shapely import Point, box

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry, GeometryParam, prepare
from pgext.postgis.copy import copy_columns
from pgext.postgis.measure import D
from pgext.postgis.queries import order_by_knn
from tests.helpers import drop_tables, recreate_tables

pytestmark = pytest.mark.postgres

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class GeoAnchor(Table, tablename="pgx_geo_anchor"):
    position = Geometry("Point", srid=4326)


class GeoSite(Table, tablename="pgx_geo_site"):
    tag = Integer()
    geom = Geometry("Point", srid=4326)
    geog = Geography("Point")
    anchor = ForeignKey(GeoAnchor)


_finite: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}
lon = st.one_of(
    st.floats(-180, 180, **_finite),
    st.floats(179, 180, **_finite),  # either side of the antimeridian
    st.floats(-180, -179, **_finite),
)
lat = st.one_of(
    st.floats(-90, 90, **_finite),
    st.floats(88, 90, **_finite),  # near the poles
    st.floats(-90, -88, **_finite),
)
points = st.tuples(lon, lat)


@pytest.fixture(scope="module")
def geo_loop(postgres_config: dict[str, Any]) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    engine = PgextEngine(config=postgres_config)
    loop.run_until_complete(engine.start_connection_pool(min_size=1, max_size=2))
    loop.run_until_complete(recreate_tables(engine, GeoAnchor, GeoSite))
    yield loop
    loop.run_until_complete(drop_tables(GeoAnchor, GeoSite))
    loop.run_until_complete(engine.close_connection_pool())
    loop.close()


async def _load(sites: list[tuple[float, float]], anchors: list[tuple[float, float]]):
    await GeoSite.delete(force=True)
    await GeoAnchor.delete(force=True)
    await copy_columns(GeoAnchor, {"position": [Point(*p) for p in anchors]})
    anchor_ids = [
        r["id"] for r in await GeoAnchor.select(GeoAnchor.id).order_by(GeoAnchor.id)
    ]
    await copy_columns(
        GeoSite,
        {
            "tag": list(range(len(sites))),
            "geom": [Point(*p) for p in sites],
            "geog": [Point(*p) for p in sites],
            "anchor": [anchor_ids[i % len(anchor_ids)] for i in range(len(sites))],
        },
    )


async def _truth(sql: str, *args: Any) -> list[tuple[int, float]]:
    async with GeoSite._meta.db.connection() as connection:
        rows = await connection.fetch(sql, *args)
    return [(int(r[0]), float(r[1])) for r in rows]


def _same_distances(got: list[float], want: list[float]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-6)


@SETTINGS
@given(
    sites=st.lists(points, min_size=1, max_size=40),
    here=points,
    k=st.integers(1, 8),
    offset=st.integers(0, 2),
    only_even=st.booleans(),
    column=st.sampled_from(["geom", "geog"]),
)
def test_knn_is_the_geodesic_order(
    geo_loop: asyncio.AbstractEventLoop,
    sites: list[tuple[float, float]],
    here: tuple[float, float],
    k: int,
    offset: int,
    only_even: bool,
    column: str,
) -> None:
    async def run() -> None:
        await _load(sites, [(0.0, 0.0)])
        spatial = getattr(GeoSite, column)
        queries = [
            GeoSite.select(GeoSite.tag).order_by(spatial.knn(point))
            for point in (Point(*here), GeometryParam("here"))
        ]
        if only_even:
            evens = list(range(0, len(sites), 2))
            queries = [q.where(GeoSite.tag.is_in(evens)) for q in queries]
        rows = await queries[0].limit(k).offset(offset)
        prepared = prepare(queries[1].limit(k).offset(offset))
        prepared_rows = await prepared.run(here=Point(*here))
        filter_sql = "WHERE tag % 2 = 0" if only_even else ""
        truth = await _truth(
            f"SELECT tag, ST_Distance(geog, ST_MakePoint($1, $2)::geography) AS d "
            f"FROM pgx_geo_site {filter_sql} ORDER BY d, tag",
            *here,
        )
        by_tag = dict(truth)
        want = truth[offset : offset + k]
        # Equal distances may come in any order; the distances may not.
        for found in (rows, prepared_rows):
            _same_distances([by_tag[r["tag"]] for r in found], [d for _, d in want])

    geo_loop.run_until_complete(run())


@SETTINGS
@given(
    sites=st.lists(points, min_size=1, max_size=30),
    anchors=st.lists(points, min_size=1, max_size=6),
    here=points,
    k=st.integers(1, 6),
)
def test_knn_on_a_joined_table(
    geo_loop: asyncio.AbstractEventLoop,
    sites: list[tuple[float, float]],
    anchors: list[tuple[float, float]],
    here: tuple[float, float],
    k: int,
) -> None:
    async def run() -> None:
        await _load(sites, anchors)
        rows = await order_by_knn(
            GeoSite.select(GeoSite.tag).limit(k),
            GeoSite.anchor.position.knn(Point(*here)),
        )
        truth = await _truth(
            "SELECT s.tag, ST_Distance(a.position::geography, "
            "ST_MakePoint($1, $2)::geography) AS d FROM pgx_geo_site s "
            "JOIN pgx_geo_anchor a ON a.id = s.anchor ORDER BY d, s.tag",
            *here,
        )
        by_tag = dict(truth)
        _same_distances([by_tag[r["tag"]] for r in rows], [d for _, d in truth[:k]])

    geo_loop.run_until_complete(run())


@SETTINGS
@given(
    sites=st.lists(points, min_size=1, max_size=40),
    here=points,
    km=st.floats(0.5, 6000, **_finite),
    column=st.sampled_from(["geom", "geog"]),
)
def test_dwithin_is_distance_at_most(
    geo_loop: asyncio.AbstractEventLoop,
    sites: list[tuple[float, float]],
    here: tuple[float, float],
    km: float,
    column: str,
) -> None:
    async def run() -> None:
        await _load(sites, [(0.0, 0.0)])
        spatial = getattr(GeoSite, column)
        rows = await GeoSite.select(
            GeoSite.tag, spatial.distance(Point(*here), alias="d")
        ).where(spatial.dwithin(Point(*here), D(km=km)))
        truth = await _truth(
            "SELECT tag, ST_Distance(geog, ST_MakePoint($1, $2)::geography) AS d "
            "FROM pgx_geo_site WHERE ST_Distance(geog, "
            "ST_MakePoint($1, $2)::geography) <= $3 ORDER BY tag",
            *here,
            km * 1000,
        )
        param = GeometryParam("here")
        prepared = prepare(
            GeoSite.select(GeoSite.tag, spatial.distance(param, alias="d")).where(
                spatial.dwithin(param, D(km=km))
            )
        )
        for found in (rows, await prepared.run(here=Point(*here))):
            assert sorted(r["tag"] for r in found) == [tag for tag, _ in truth]
            # pgext's distance() is that same geodesic distance.
            _same_distances(
                [r["d"] for r in sorted(found, key=lambda r: r["tag"])],
                [d for _, d in truth],
            )

    geo_loop.run_until_complete(run())


class GeoShape(Table, tablename="pgx_geo_shape"):
    geom = Geometry(srid=4326)
    geog = Geography()


@pytest.fixture(scope="module")
def shape_loop(
    geo_loop: asyncio.AbstractEventLoop,
) -> Iterator[asyncio.AbstractEventLoop]:
    engine = GeoSite._meta.db
    geo_loop.run_until_complete(recreate_tables(engine, GeoShape))
    yield geo_loop
    geo_loop.run_until_complete(drop_tables(GeoShape))


@SETTINGS
@given(
    corner=st.tuples(st.floats(-180, 177, **_finite), st.floats(-89, 86, **_finite)),
    size=st.tuples(st.floats(0.01, 3, **_finite), st.floats(0.01, 3, **_finite)),
    km=st.floats(0.1, 500, **_finite),
)
def test_area_length_and_buffer_agree_on_both_kinds(
    shape_loop: asyncio.AbstractEventLoop,
    corner: tuple[float, float],
    size: tuple[float, float],
    km: float,
) -> None:
    (x, y), (w, h) = corner, size
    shape = box(x, y, x + w, y + h)
    centre = Point(x, y)

    async def run() -> None:
        await GeoShape.delete(force=True)
        await GeoShape.insert(
            GeoShape(geom=shape, geog=shape), GeoShape(geom=centre, geog=centre)
        )
        rows = await GeoShape.select(
            GeoShape.geom.area(alias="geom_area"),
            GeoShape.geog.area(alias="geog_area"),
            GeoShape.geom.perimeter(alias="geom_perimeter"),
            GeoShape.geog.perimeter(alias="geog_perimeter"),
            GeoShape.geom.buffer(D(km=km), alias="geom_zone"),
            GeoShape.geog.buffer(D(km=km), alias="geog_zone"),
        ).order_by(GeoShape.id)
        async with GeoShape._meta.db.connection() as connection:
            truth = await connection.fetchrow(
                "SELECT ST_Area(g) AS area, ST_Perimeter(g) AS perimeter "
                "FROM (SELECT ST_MakeEnvelope($1, $2, $3, $4, 4326)::geography AS g) s",
                x,
                y,
                x + w,
                y + h,
            )
            # The buffer's ring lies km from the centre, measured independently.
            ring = [
                await connection.fetchval(
                    "SELECT max(ST_Distance(ST_MakePoint($1, $2)::geography, "
                    "(d).geom::geography)) FROM ST_DumpPoints($3::geometry) AS d",
                    x,
                    y,
                    zone,
                )
                for zone in (rows[1]["geom_zone"], rows[1]["geog_zone"])
            ]
        polygon = rows[0]
        for kind in ("geom", "geog"):
            assert polygon[f"{kind}_area"] == pytest.approx(truth["area"], rel=1e-9)
            assert polygon[f"{kind}_perimeter"] == pytest.approx(
                truth["perimeter"], rel=1e-9
            )
        # PostGIS buffers geography in a projection it picks for the place
        # (UTM, polar LAEA, ...): the ring is off by up to ~1.9 % (measured
        # worst where it switches projection, at |lat| = 70).
        for farthest in ring:
            assert farthest == pytest.approx(km * 1000, rel=0.025)

    shape_loop.run_until_complete(run())
