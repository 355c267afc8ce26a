"""The query-point fast path packs the EWKB shapely itself would write, for
every finite point it takes, and leaves the rest to the general path."""

from __future__ import annotations

import math

import shapely
from hypothesis import given
from hypothesis import strategies as st

from pgext.postgis import point_operand
from pgext.postgis.spatial_info import SpatialInfo

GEOMETRY = SpatialInfo("location", 4326, False)
GEOGRAPHY = SpatialInfo("place", 4326, True)
ordinates = st.floats(allow_nan=False, allow_infinity=False, width=64)


def shapely_ewkb(point: shapely.Point) -> bytes:
    """The independent truth: shapely's (GEOS's) own EWKB writer."""
    data: bytes = shapely.to_wkb(
        shapely.set_srid(point, 4326),
        include_srid=True,
        output_dimension=4,
        byte_order=1,
    )
    return data


@given(st.lists(ordinates, min_size=2, max_size=3))
def test_points_and_number_pairs_pack_as_geos_writes(numbers: list[float]) -> None:
    point = shapely.Point(*numbers)
    expected = shapely_ewkb(point)
    assert point_operand.point_ewkb(point, GEOMETRY) == expected
    assert point_operand.point_ewkb(tuple(numbers), GEOMETRY) == expected
    assert point_operand._from_wkb(point, GEOMETRY) == expected


@given(ordinates, ordinates)
def test_geography_takes_only_lon_lat(x: float, y: float) -> None:
    packed = point_operand.point_ewkb((x, y), GEOGRAPHY)
    if -180 <= x <= 180 and -90 <= y <= 90:
        assert packed == shapely_ewkb(shapely.Point(x, y))
    else:
        assert packed is None


def test_measured_points_and_what_it_leaves() -> None:
    for wkt in ("POINT M (1 2 4)", "POINT ZM (1 2 3 4)"):
        point = shapely.from_wkt(wkt)
        assert point_operand.point_ewkb(point, GEOMETRY) == shapely_ewkb(point)
    left = [
        shapely.Point(),
        shapely.Point(math.nan, 0),
        shapely.Point(0, math.inf),
        shapely.set_srid(shapely.Point(0, 0), 3857),
        shapely.LineString([(0, 0), (1, 1)]),
        (math.nan, 0),
        (True, 0),
        (1,),
        (1, 2, 3, 4),
        [1, 2],
    ]
    for value in left:
        assert point_operand.point_ewkb(value, GEOMETRY) is None, value
