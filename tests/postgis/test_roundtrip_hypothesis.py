"""Property: any geometry of any subtype, with Z and/or M, makes it through
the database (binary EWKB both ways) bit for bit, with its SRID."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from piccolo.table import Table
from shapely.geometry.base import BaseGeometry

from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.postgis.copy import copy_columns
from pgext.postgis.errors import CoordinateOutOfRange
from pgext.postgis.values import GeometrySpec, check_geometry, dimension_of
from tests.helpers import drop_tables, recreate_tables

pytestmark = pytest.mark.postgres

DIMENSIONS = ("XY", "XYZ", "XYM", "XYZM")


class IoRoundTrip(Table, tablename="pgx_io_roundtrip"):
    xy = Geometry(srid=3857, spatial_index=False)
    xyz = Geometry(srid=3857, dimension="XYZ", spatial_index=False)
    xym = Geometry(srid=3857, dimension="XYM", spatial_index=False)
    xyzm = Geometry(srid=3857, dimension="XYZM", spatial_index=False)
    geog_xy = Geography(spatial_index=False)
    geog_xyzm = Geography(dimension="XYZM", spatial_index=False)


def coordinate(
    dimension: str, geographic: bool
) -> st.SearchStrategy[tuple[float, ...]]:
    finite: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}
    if geographic:
        x = st.floats(-180, 180, **finite)
        y = st.floats(-90, 90, **finite)
    else:
        x = y = st.floats(-1e7, 1e7, **finite)
    extra = [st.floats(-1e6, 1e6, **finite) for _ in dimension[2:]]
    return st.tuples(x, y, *extra)


def wkt_coords(points: list[tuple[float, ...]]) -> str:
    return ", ".join(" ".join(repr(c) for c in p) for p in points)


@st.composite
def geometries(
    draw: st.DrawFn, dimension: str, geographic: bool = False
) -> BaseGeometry:
    coord = coordinate(dimension, geographic)
    tag = {"XY": "", "XYZ": " Z", "XYM": " M", "XYZM": " ZM"}[dimension]

    def line(minimum: int) -> str:
        return f"({wkt_coords(draw(st.lists(coord, min_size=minimum, max_size=6)))})"

    def ring() -> str:
        points = draw(st.lists(coord, min_size=3, max_size=6))
        return f"({wkt_coords([*points, points[0]])})"

    def polygon() -> str:
        return "(" + ", ".join(ring() for _ in range(draw(st.integers(1, 2)))) + ")"

    def point() -> str:
        return f"({wkt_coords([draw(coord)])})"

    def many(part: Any) -> str:
        return "(" + ", ".join(part() for _ in range(draw(st.integers(1, 3)))) + ")"

    kind = draw(
        st.sampled_from(
            [
                "POINT",
                "LINESTRING",
                "POLYGON",
                "MULTIPOINT",
                "MULTILINESTRING",
                "MULTIPOLYGON",
                "GEOMETRYCOLLECTION",
                "EMPTY",
            ]
        )
    )
    bodies = {
        "POINT": point,
        "LINESTRING": lambda: line(2),
        "POLYGON": polygon,
        "MULTIPOINT": lambda: many(point),
        "MULTILINESTRING": lambda: many(lambda: line(2)),
        "MULTIPOLYGON": lambda: many(polygon),
    }
    if kind == "EMPTY":
        # GEOS (so shapely) drops Z/M of empty collections: only the single
        # types keep their dimension when empty (documented limitation).
        kinds = (
            sorted(bodies) if dimension == "XY" else ["LINESTRING", "POINT", "POLYGON"]
        )
        text = f"{draw(st.sampled_from(kinds))}{tag} EMPTY"
    elif kind == "GEOMETRYCOLLECTION":
        parts = [
            f"{name}{tag} {bodies[name]()}"
            for name in draw(
                st.lists(st.sampled_from(sorted(bodies)), min_size=1, max_size=3)
            )
        ]
        text = f"GEOMETRYCOLLECTION{tag} ({', '.join(parts)})"
    else:
        text = f"{kind}{tag} {bodies[kind]()}"
    geometry: BaseGeometry = shapely.from_wkt(text)
    return geometry


def defined_on_sphere(geometry: BaseGeometry) -> bool:
    """PostGIS refuses geography edges between antipodal points (pgext
    checks that before sending: see test_values)."""
    try:
        check_geometry(
            geometry, GeometrySpec(dimension=dimension_of(geometry), geography=True)
        )
    except CoordinateOutOfRange:
        return False
    return True


def ewkb(geometry: BaseGeometry) -> bytes:
    data: bytes = shapely.to_wkb(geometry, output_dimension=4, include_srid=True)
    return data


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "xy": geometries("XY"),
            "xyz": geometries("XYZ"),
            "xym": geometries("XYM"),
            "xyzm": geometries("XYZM"),
            "geog_xy": geometries("XY", geographic=True).filter(defined_on_sphere),
            "geog_xyzm": geometries("XYZM", geographic=True).filter(defined_on_sphere),
        }
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def roundtrip_loop(
    postgres_config: dict[str, Any],
) -> Iterator[asyncio.AbstractEventLoop]:
    """A private event loop with a pooled engine: hypothesis drives a sync
    test, and a pool keeps each example (and shrinking) to milliseconds."""
    loop = asyncio.new_event_loop()
    engine = PgextEngine(config=postgres_config)
    loop.run_until_complete(engine.start_connection_pool(min_size=1, max_size=2))
    loop.run_until_complete(recreate_tables(engine, IoRoundTrip))
    yield loop
    loop.run_until_complete(drop_tables(IoRoundTrip))
    loop.run_until_complete(engine.close_connection_pool())
    loop.close()


async def _insert_and_read(
    rows: list[dict[str, BaseGeometry]], bulk: bool
) -> list[dict[str, Any]]:
    await IoRoundTrip.delete(force=True)
    if bulk:
        names = list(rows[0])
        await copy_columns(IoRoundTrip, {n: [r[n] for r in rows] for n in names})
    else:
        await IoRoundTrip.insert(*(IoRoundTrip(**row) for row in rows))
    result: list[dict[str, Any]] = await IoRoundTrip.select().order_by(IoRoundTrip.id)
    return result


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=rows_strategy, bulk=st.booleans())
def test_random_geometries_round_trip(
    roundtrip_loop: asyncio.AbstractEventLoop,
    rows: list[dict[str, BaseGeometry]],
    bulk: bool,
) -> None:
    stored = roundtrip_loop.run_until_complete(_insert_and_read(rows, bulk))
    assert len(stored) == len(rows)
    for sent, got in zip(rows, stored, strict=True):
        for name, geometry in sent.items():
            srid = 4326 if name.startswith("geog") else 3857
            back = got[name]
            assert shapely.get_srid(back) == srid
            assert ewkb(back) == ewkb(shapely.set_srid(geometry, srid)), name
