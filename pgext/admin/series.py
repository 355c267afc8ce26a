"""*How* the time-series widget reads its data: the server buckets rows so
the browser never receives more than ``points`` buckets per series.

The bucket width is the range divided by ``points`` (whole seconds);
buckets are :class:`pgext.timescale.TimeBucket` expressions, which render as
``time_bucket`` on TimescaleDB and ``date_bin`` on plain PostgreSQL.

An exact aggregate must read every row in the range: about a second per ten
million rows on a small machine.  So when the planner's estimate of rows in
range is above ``exact_rows`` *and* sampling would read fewer pages than the
range holds, the query reads a block sample (``TABLESAMPLE SYSTEM``,
repeatable so reloads agree) sized for about ``sample_rows`` rows; the
response says so (``sampled_percent``) and ``sum``/``count`` are scaled back
up.  Zooming into a shorter range makes it exact again.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from piccolo.columns import Column
from piccolo.querystring import QueryString

from pgext import seam
from pgext.admin.errors import BadRequest
from pgext.admin.registry import TableEntry
from pgext.timescale.functions import DEFAULT_ORIGIN, TimeBucket

AGGREGATES = {
    "avg": "avg({})::float8",
    "min": "min({})::float8",
    "max": "max({})::float8",
    "sum": "sum({})::float8",
    "count": "count({})::float8",
}
SCALED = ("sum", "count")


@dataclass(frozen=True)
class SeriesLimits:
    max_points: int = 2000
    default_points: int = 500
    max_series: int = 10
    exact_rows: int = 1_000_000
    sample_rows: int = 200_000


@dataclass(frozen=True)
class SeriesRequest:
    time: Column
    value: Column
    key: Column | None
    aggregate: str
    start: datetime
    end: datetime
    points: int
    series: int
    #: The series to draw (key values as text); None: the ``series`` most
    #: recently active in the range.
    keys: tuple[str, ...] | None = None
    #: The table's own bucket width in seconds (a continuous aggregate's),
    #: below which finer buckets would only leave gaps.
    floor_seconds: float | None = None


# Bucket widths a reader recognises (seconds); beyond the last, whole days.
NICE_WIDTHS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)


def bucket_width(start: datetime, end: datetime, points: int) -> timedelta:
    """The smallest "nice" width giving at most ``points`` buckets."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        raise BadRequest("end must be after start")
    needed = max(1, math.ceil(seconds / points))
    for width in NICE_WIDTHS:
        if width >= needed:
            return timedelta(seconds=width)
    return timedelta(days=math.ceil(needed / 86400))


def request_width(request: SeriesRequest) -> timedelta:
    """The bucket width actually used: the nice width for the range, but
    never finer than the table's own buckets (an hourly aggregate drawn in
    15-minute buckets would be three gaps for every value)."""
    width = bucket_width(request.start, request.end, request.points)
    floor = request.floor_seconds
    if floor and floor > width.total_seconds():
        return timedelta(seconds=math.ceil(floor))
    return width


def own_bucket_seconds(table: Any) -> float | None:
    """The bucket width of a continuous aggregate (its query's
    ``TimeBucket``), or None for other tables."""
    from pgext.timescale.aggregates import aggregate_spec

    spec = aggregate_spec(table)
    if spec is None:
        return None
    for column in seam.select_columns(spec.select()):
        if isinstance(column, TimeBucket) and column.width.seconds:
            return float(column.width.seconds)
    return None


def natural_key(value: str | None) -> tuple[Any, ...]:
    """Sort key putting ``sensor 2`` before ``sensor 10`` (None first)."""
    if value is None:
        return ()
    parts = re.split(r"(\d+)", value)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


async def extent(
    entry: TableEntry, time: Column
) -> tuple[datetime | None, datetime | None]:
    """First and last time (index-assisted min/max)."""
    quoted = entry.quoted(time)
    engine = seam.table_engine(entry.table)
    async with engine.connection() as conn:
        row = await conn.fetchrow(
            f"SELECT min({quoted}) AS first, max({quoted}) AS last "
            f"FROM {entry.sql_name}"
        )
    return row["first"], row["last"]


async def _estimate(conn: Any, sql: str, *args: Any) -> float:
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    data = json.loads(plan) if isinstance(plan, str) else plan
    return float(data[0]["Plan"]["Plan Rows"])


async def sample_percent(
    conn: Any, entry: TableEntry, request: SeriesRequest, limits: SeriesLimits
) -> float | None:
    """The TABLESAMPLE percentage to use, or None for an exact read."""
    time = entry.quoted(request.time)
    in_range = await _estimate(
        conn,
        f"SELECT 1 FROM {entry.sql_name} WHERE {time} >= $1 AND {time} < $2",
        request.start,
        request.end,
    )
    if in_range <= limits.exact_rows:
        return None
    total = await _estimate(conn, f"SELECT 1 FROM {entry.sql_name}")
    # Sampling reads percent * total rows' pages; exact reads in_range rows.
    percent = 100.0 * limits.sample_rows / in_range
    if percent >= 50 or percent / 100 * total >= in_range:
        return None
    return max(percent, 0.01)


def series_query(
    entry: TableEntry, request: SeriesRequest, percent: float | None
) -> QueryString:
    width = request_width(request)
    bucket = TimeBucket(width, request.time, alias=None)
    key: QueryString = (
        QueryString("{}::text", request.key)
        if request.key is not None
        else QueryString("NULL::text")
    )
    value = QueryString(AGGREGATES[request.aggregate], request.value)
    sample = ""
    if percent is not None:
        # A validated float, inlined: TABLESAMPLE's argument may be bound,
        # but REPEATABLE's seed is fixed here and both read better inline.
        sample = f" TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (7)"
    if request.keys is not None:
        top = QueryString(
            "SELECT DISTINCT key FROM a WHERE key = ANY({}::text[])",
            list(request.keys),
        )
    else:
        # The most recently active series: a chart of "now" should show the
        # sensors reporting now, not the ones with the longest history.
        top = QueryString(
            "SELECT key FROM a GROUP BY key "
            "ORDER BY max(bucket) DESC, sum(n) DESC, key LIMIT {}",
            request.series,
        )
    return QueryString(
        "WITH a AS (SELECT {} AS bucket, {} AS key, {} AS value, count(*) AS n "
        f"FROM {entry.sql_name}{sample} "
        "WHERE {} >= {} AND {} < {} AND {} IS NOT NULL GROUP BY 1, 2), "
        "top AS ({}) "
        "SELECT a.bucket, a.key, a.value, a.n FROM a JOIN top "
        "ON a.key IS NOT DISTINCT FROM top.key ORDER BY a.bucket, a.key",
        bucket,
        key,
        value,
        request.time,
        request.start,
        request.time,
        request.end,
        request.value,
        top,
    )


async def read_series(
    entry: TableEntry, request: SeriesRequest, limits: SeriesLimits
) -> dict[str, Any]:
    """Buckets and one value list per series key, aligned with the
    buckets (``null`` where a series has no row)."""
    engine = seam.table_engine(entry.table)
    # TimeBucket picks time_bucket or date_bin from the engine's cached
    # capabilities; make sure they are known.
    capabilities = getattr(engine, "capabilities", None)
    if capabilities is not None:
        await capabilities()
    async with engine.connection() as conn:
        percent = await sample_percent(conn, entry, request, limits)
        sql, args = series_query(entry, request, percent).compile_string(
            engine_type="postgres"
        )
        try:
            rows = await conn.fetch(sql, *args)
        except (asyncpg.FeatureNotSupportedError, asyncpg.WrongObjectTypeError):
            # Some relations (views, foreign tables) cannot be sampled.
            if percent is None:
                raise
            percent = None
            sql, args = series_query(entry, request, None).compile_string(
                engine_type="postgres"
            )
            rows = await conn.fetch(sql, *args)
    scale = 100.0 / percent if percent and request.aggregate in SCALED else 1.0
    buckets: list[datetime] = sorted({row["bucket"] for row in rows})
    index = {bucket: i for i, bucket in enumerate(buckets)}
    series: dict[str | None, list[float | None]] = {}
    counts: dict[str | None, list[int]] = {}
    for row in rows:
        values = series.setdefault(row["key"], [None] * len(buckets))
        value = row["value"]
        values[index[row["bucket"]]] = None if value is None else value * scale
        counts.setdefault(row["key"], [0] * len(buckets))[index[row["bucket"]]] = row[
            "n"
        ]
    return {
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "width_seconds": request_width(request).total_seconds(),
        # Buckets are aligned to this instant (TimescaleDB's default origin,
        # which date_bin is given too): live points are folded the same way.
        "origin": _epoch(datetime.fromisoformat(DEFAULT_ORIGIN)),
        "aggregate": request.aggregate,
        "sampled_percent": percent,
        "buckets": [_epoch(b) for b in buckets],
        "series": [
            # ``counts``: rows per bucket, so a live row can be folded into
            # an average without the client re-reading the bucket.
            {"key": key, "values": values, "counts": counts[key]}
            for key, values in sorted(series.items(), key=lambda kv: natural_key(kv[0]))
        ],
    }


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        # Timestamp (without time zone) columns are taken as UTC.
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
