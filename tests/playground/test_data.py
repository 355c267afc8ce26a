"""The generated city: reproducible, and consistent with itself (what the
tutorial's assertions rely on).  No database needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

from pgext.playground import data

SIZE = data.SIZES["small"]


def _city() -> tuple[dict[str, object], dict[str, object], list[int]]:
    cells = data.districts(SIZE)
    ids = list(range(1, len(cells["name"]) + 1))
    return cells, data.venues(SIZE, cells["boundary"], ids), ids


def test_districts_tile_the_city_without_overlap() -> None:
    cells = data.districts(SIZE)
    boundary = np.asarray(cells["boundary"])
    assert len(boundary) == SIZE.districts == len(set(cells["name"]))
    assert all(shapely.get_type_id(boundary) == 3)  # Polygon
    city = shapely.box(*data.BOUNDS)
    union = shapely.union_all(boundary)
    assert abs(union.area - city.area) < 1e-9
    assert abs(sum(shapely.area(boundary)) - city.area) < 1e-9  # no overlap


def test_venues_lie_in_their_district_and_footprint() -> None:
    cells, venues, ids = _city()
    points = np.asarray(venues["location"])
    assert len(points) == SIZE.venues
    owner = [np.asarray(cells["boundary"])[ids.index(d)] for d in venues["district"]]
    assert all(shapely.covers(np.asarray(owner), points))
    assert all(shapely.contains(np.asarray(venues["footprint"]), points))
    assert all(shapely.is_valid(np.asarray(venues["footprint"])))
    assert {k for k, *_ in data.KINDS} == set(venues["kind"])
    assert min(venues["capacity"]) >= 10


def test_same_size_same_data() -> None:
    first, second = _city()[1], _city()[1]
    assert first["name"] == second["name"]
    assert all(
        shapely.equals(np.asarray(first["location"]), np.asarray(second["location"]))
    )
    other = data.venues(
        data.SIZES["tiny"], data.districts(SIZE)["boundary"], list(range(1, 13))
    )
    assert other["name"][:20] != first["name"][:20]


def test_readings_end_now_in_time_order() -> None:
    now = datetime(2026, 3, 1, 12, 7, tzinfo=timezone.utc)
    rows = data.readings(SIZE, list(range(1, SIZE.sensors + 1)), now=now)
    start, steps = data.reading_window(SIZE, now)
    assert len(rows) == steps * SIZE.sensors == SIZE.readings
    assert rows[0][0] == start
    assert rows[-1][0] == datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps)
    assert stamps[SIZE.sensors] - stamps[0] == timedelta(seconds=SIZE.interval)
    temperatures = np.array([r[2] for r in rows])
    assert -15 < temperatures.min() < temperatures.max() < 45
    assert all(5 <= r[3] <= 100 for r in rows)
