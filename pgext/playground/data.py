"""Realistic generated data for the playground city, column-oriented and
vectorised (numpy + shapely), deterministic for a given size.

The city sits where Berlin is (lon 13.40, lat 52.52) and spans about
20 x 15 km: districts are Voronoi cells of random seeds, venues cluster
around a few centres, sensor readings follow a daily temperature cycle with
per-sensor offsets and noise.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

CENTRE = (13.40, 52.52)
# Degrees per kilometre at the city's latitude.
KM_LON = 1 / (111.32 * np.cos(np.radians(CENTRE[1])))
KM_LAT = 1 / 110.57
HALF_WIDTH_KM, HALF_HEIGHT_KM = 10.0, 7.5
BOUNDS = (
    CENTRE[0] - HALF_WIDTH_KM * KM_LON,
    CENTRE[1] - HALF_HEIGHT_KM * KM_LAT,
    CENTRE[0] + HALF_WIDTH_KM * KM_LON,
    CENTRE[1] + HALF_HEIGHT_KM * KM_LAT,
)

KINDS = (
    # kind, share, (min, max) footprint side in metres, (min, max) capacity
    ("cafe", 0.25, (8, 25), (10, 80)),
    ("restaurant", 0.2, (10, 35), (20, 200)),
    ("bar", 0.15, (8, 30), (20, 300)),
    ("gallery", 0.08, (15, 50), (20, 400)),
    ("museum", 0.05, (40, 150), (100, 3000)),
    ("theatre", 0.05, (30, 90), (150, 2000)),
    ("library", 0.05, (25, 80), (50, 800)),
    ("club", 0.07, (15, 60), (100, 1500)),
    ("park", 0.08, (100, 600), (200, 20000)),
    ("stadium", 0.02, (150, 300), (5000, 75000)),
)
_ADJECTIVES = (
    "Blue", "Golden", "Old", "Little", "Green", "Quiet", "Red", "Silver", "North",
    "Hidden", "Bright", "Royal", "Urban", "Sunny", "Iron", "Velvet",
)  # fmt: skip
_NOUNS = (
    "Lantern", "Harbour", "Garden", "Fox", "Bridge", "Oak", "Tower", "Anchor",
    "Canal", "Market", "Linden", "Bear", "Crown", "Mill", "Spree", "Square",
)  # fmt: skip
_DISTRICTS = (
    "Mitte", "Nordhafen", "Südstadt", "Weststrand", "Ostkreuz", "Altufer",
    "Lindenviertel", "Kanalpark", "Neuhof", "Marktplatz", "Brunnenfeld",
    "Wasserturm", "Schlossgarten", "Hafenkante", "Sonnenhang", "Eichwald",
    "Birkenau", "Fischerkiez", "Glockenturm", "Mühlenberg", "Rosental",
    "Kupferhof", "Seeblick", "Lerchenfeld",
)  # fmt: skip
# Column name -> values, as ``copy_columns`` takes them.
Columns = dict[Any, Any]

SENSOR_KINDS = ("indoor", "outdoor", "rooftop")


@dataclass(frozen=True)
class Size:
    name: str
    districts: int
    venues: int
    sensors: int
    readings: int
    #: seconds between two readings of one sensor
    interval: int = 600


SIZES: dict[str, Size] = {
    "tiny": Size("tiny", 8, 300, 20, 4_000),
    "small": Size("small", 12, 2_000, 100, 30_000),
    "medium": Size("medium", 24, 10_000, 500, 250_000),
    "large": Size("large", 24, 50_000, 1_000, 1_000_000),
}
DEFAULT_SIZE = "medium"


def _rng(size: Size, what: str) -> np.random.Generator:
    # Independent, reproducible streams per size and per table.
    return np.random.default_rng(
        [size.venues, size.readings, zlib.crc32(what.encode())]
    )


def districts(size: Size) -> Columns:
    """Voronoi cells of random seeds, clipped to the city's bounds."""
    rng = _rng(size, "districts")
    xmin, ymin, xmax, ymax = BOUNDS
    seeds = np.column_stack(
        [
            rng.uniform(xmin, xmax, size.districts),
            rng.uniform(ymin, ymax, size.districts),
        ]
    )
    frame = shapely.box(*BOUNDS)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)
    )
    cells = shapely.intersection(cells, frame)
    # voronoi_polygons returns cells in no particular order: name them by
    # position (west to east) so names are stable.
    order = np.argsort(shapely.get_x(shapely.centroid(cells)))
    cells = cells[order]
    names = [_DISTRICTS[i % len(_DISTRICTS)] for i in range(len(cells))]
    names = [n if i < len(_DISTRICTS) else f"{n} {i // len(_DISTRICTS) + 1}"
             for i, n in enumerate(names)]  # fmt: skip
    return {"name": names, "boundary": cells}


def venues(
    size: Size, district_cells: NDArray[Any], district_ids: list[int]
) -> Columns:
    """Points clustered around a few centres plus a uniform background, each
    with a rotated rectangular footprint sized by its kind."""
    rng = _rng(size, "venues")
    n = size.venues
    xmin, ymin, xmax, ymax = BOUNDS
    centres = np.column_stack([rng.uniform(xmin, xmax, 6), rng.uniform(ymin, ymax, 6)])
    clustered = int(n * 0.7)
    pick = rng.integers(0, len(centres), clustered)
    spread_km = rng.uniform(0.6, 2.0, len(centres))[pick]
    xs = centres[pick, 0] + rng.normal(0, 1, clustered) * spread_km * KM_LON
    ys = centres[pick, 1] + rng.normal(0, 1, clustered) * spread_km * KM_LAT
    xs = np.concatenate([xs, rng.uniform(xmin, xmax, n - clustered)])
    ys = np.concatenate([ys, rng.uniform(ymin, ymax, n - clustered)])
    # Keep everything inside the city (inside some district).
    margin = 1e-6
    xs = np.clip(xs, xmin + margin, xmax - margin)
    ys = np.clip(ys, ymin + margin, ymax - margin)

    shares = np.array([k[1] for k in KINDS])
    kind_index = rng.choice(len(KINDS), n, p=shares / shares.sum())
    side_min = np.array([k[2][0] for k in KINDS])[kind_index]
    side_max = np.array([k[2][1] for k in KINDS])[kind_index]
    width_m = rng.uniform(side_min, side_max)
    depth_m = width_m * rng.uniform(0.5, 1.0, n)
    angle = rng.uniform(0, np.pi, n)
    corners = np.array(
        [[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]]
    )
    dx = corners[None, :, 0] * width_m[:, None]
    dy = corners[None, :, 1] * depth_m[:, None]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    rx = (dx * cos - dy * sin) / 1000 * KM_LON
    ry = (dx * sin + dy * cos) / 1000 * KM_LAT
    rings = np.stack([xs[:, None] + rx, ys[:, None] + ry], axis=-1)
    footprints = shapely.polygons(rings)
    points = shapely.points(xs, ys)

    cap_min = np.array([k[3][0] for k in KINDS])[kind_index]
    cap_max = np.array([k[3][1] for k in KINDS])[kind_index]
    capacity = rng.integers(cap_min, cap_max + 1).astype(int)

    tree = shapely.STRtree(district_cells)
    hit_point, hit_cell = tree.query(points, predicate="intersects")
    owner = np.zeros(n, dtype=int)
    owner[hit_point] = hit_cell  # a point on a shared edge: the last cell wins
    ids = np.asarray(district_ids)[owner]

    adjective = rng.integers(0, len(_ADJECTIVES), n)
    noun = rng.integers(0, len(_NOUNS), n)
    kind_names = [KINDS[i][0] for i in kind_index]
    names = [
        f"{_ADJECTIVES[a]} {_NOUNS[b]} {k.title()}"
        for a, b, k in zip(adjective.tolist(), noun.tolist(), kind_names, strict=True)
    ]
    days = rng.integers(0, 365 * 60, n).tolist()
    first = datetime(1965, 1, 1).date()
    opened = [first + timedelta(days=d) for d in days]
    return {
        "name": names,
        "kind": kind_names,
        "location": points,
        "footprint": footprints,
        "capacity": capacity.tolist(),
        "opened": opened,
        "district": ids.tolist(),
    }


def sensors(size: Size, venue_ids: list[int], venue_points: NDArray[Any]) -> Columns:
    """Sensors at randomly chosen venues, a few metres from the venue's
    point."""
    rng = _rng(size, "sensors")
    n = size.sensors
    at = rng.choice(len(venue_ids), n, replace=n > len(venue_ids))
    xs = shapely.get_x(venue_points[at]) + rng.normal(0, 0.01, n) * KM_LON
    ys = shapely.get_y(venue_points[at]) + rng.normal(0, 0.01, n) * KM_LAT
    return {
        "code": [f"S-{i + 1:04d}" for i in range(n)],
        "kind": [SENSOR_KINDS[k] for k in rng.integers(0, len(SENSOR_KINDS), n)],
        "location": shapely.points(xs, ys),
        "venue": np.asarray(venue_ids)[at].tolist(),
    }


def reading_window(size: Size, now: datetime | None = None) -> tuple[datetime, int]:
    """(first timestamp, number of steps): the readings end at ``now``
    (rounded down to the interval) so "the last hour" has data."""
    now = now or datetime.now(timezone.utc)
    steps = max(1, size.readings // size.sensors)
    epoch = int(now.timestamp()) // size.interval * size.interval
    end = datetime.fromtimestamp(epoch, timezone.utc)
    return end - timedelta(seconds=size.interval * (steps - 1)), steps


def readings(
    size: Size, sensor_ids: list[int], now: datetime | None = None
) -> list[tuple[datetime, int, float, float]]:
    """Rows ``(ts, sensor_id, temperature, humidity)`` in time order, for
    ``bulk_insert`` (tuples are its fastest input)."""
    rng = _rng(size, "readings")
    start, steps = reading_window(size, now)
    n_sensors = len(sensor_ids)
    offsets = rng.normal(0, 1.5, n_sensors)
    seconds = np.arange(steps) * size.interval
    hours = ((start.hour * 3600 + start.minute * 60) + seconds) / 3600
    daily = 6.0 * np.sin((hours - 9) / 24 * 2 * np.pi)  # warmest mid-afternoon
    temperature = (
        12.0
        + daily[:, None]
        + offsets[None, :]
        + rng.normal(0, 0.4, (steps, n_sensors))
    )
    # A few sensors run hot at times: material for the alert examples.
    hot = rng.random((steps, n_sensors)) < 0.001
    temperature = np.where(hot, temperature + 15, temperature)
    humidity = np.clip(
        65 - daily[:, None] * 3 + rng.normal(0, 4, (steps, n_sensors)), 5, 100
    )
    stamps = [start + timedelta(seconds=int(s)) for s in seconds]
    temperature = np.round(temperature, 2).tolist()
    humidity = np.round(humidity, 1).tolist()
    return [
        (stamps[t], sensor_ids[s], temperature[t][s], humidity[t][s])
        for t in range(steps)
        for s in range(n_sensors)
    ]
