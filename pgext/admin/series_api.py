"""The time-series widget's JSON API: bucketed series and the time extent of
a table, each after the admin's read rules for it (``get_all`` validators,
:mod:`pgext.admin.rules`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from piccolo.columns import Timestamp, Timestamptz
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pgext import seam
from pgext.admin import params
from pgext.admin.errors import BadRequest, json_errors
from pgext.admin.registry import Registry
from pgext.admin.rules import TableRules
from pgext.admin.series import (
    AGGREGATES,
    SeriesLimits,
    SeriesRequest,
    extent,
    own_bucket_seconds,
    read_series,
)


class SeriesApi:
    """Mounted at ``<widgets>/api/series``; ``rules`` gives a table's rules
    by name, ``limits`` the current :class:`SeriesLimits`."""

    def __init__(
        self,
        registry: Registry,
        rules: Callable[[str], TableRules],
        limits: Callable[[], SeriesLimits],
    ) -> None:
        self.registry = registry
        self.rules = rules
        # Read per request: the app's options may be changed while it runs.
        self._limits = limits

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{table}", json_errors(self.series), methods=["GET"]),
            Route("/{table}/extent", json_errors(self.extent), methods=["GET"]),
        ]

    async def series(self, request: Request) -> Response:
        entry = self.registry.series_table(request.path_params["table"])
        await self.rules(entry.name).check("get_all", request)
        spec = entry.series
        assert spec is not None
        query = request.query_params
        limits = self._limits()
        time = entry.column(params.text(query, "time", spec["time_column"]))
        if seam.column_name(time) != spec["time_column"]:
            raise BadRequest(
                f"time must be {spec['time_column']!r}, "
                f"the time column of {entry.name!r}"
            )
        value_name = params.text(query, "value", spec["value_columns"][0])
        if value_name not in spec["value_columns"]:
            entry.column(value_name)  # unknown column: says so
            raise BadRequest(
                f"{value_name!r} is not a numeric column of {entry.name!r}; "
                f"expected one of {spec['value_columns']}"
            )
        key_name = query.get("key") or None
        if key_name is not None and key_name not in spec["series_keys"]:
            entry.column(key_name)
            raise BadRequest(
                f"{key_name!r} cannot be a series key of {entry.name!r}; "
                f"expected one of {spec['series_keys']}"
            )
        aggregate = params.text(query, "agg", "avg")
        if aggregate not in AGGREGATES:
            raise BadRequest(
                f"agg must be one of {list(AGGREGATES)}, got {aggregate!r}"
            )
        points = params.integer(
            query, "points", limits.default_points, 2, limits.max_points
        )
        series_count = params.integer(
            query, "series", limits.max_series, 1, limits.max_series
        )
        keys = _keys(query.getlist("keys"), limits.max_series)
        if keys is not None and key_name is None:
            raise BadRequest("keys= chooses series: give key= (the key column) too")
        start = params.timestamp(query, "start")
        end = params.timestamp(query, "end")
        if start is None or end is None:
            first, last = await extent(entry, time)
            if first is None or last is None:
                return JSONResponse(
                    {
                        "buckets": [],
                        "series": [],
                        "sampled_percent": None,
                        "start": None,
                        "end": None,
                    }
                )
            start = start or _aware(first)
            end = end or _after(_aware(last))
        if end <= start:
            raise BadRequest("end must be after start")
        naive = isinstance(time, Timestamp) and not isinstance(time, Timestamptz)
        request_ = SeriesRequest(
            time=time,
            value=entry.column(value_name),
            key=entry.column(key_name) if key_name else None,
            aggregate=aggregate,
            start=_for_column(start, naive),
            end=_for_column(end, naive),
            points=points,
            series=series_count,
            keys=keys,
            floor_seconds=own_bucket_seconds(entry.table),
        )
        return JSONResponse(await read_series(entry, request_, limits))

    async def extent(self, request: Request) -> Response:
        entry = self.registry.series_table(request.path_params["table"])
        await self.rules(entry.name).check("get_all", request)
        assert entry.series is not None
        first, last = await extent(entry, entry.column(entry.series["time_column"]))
        return JSONResponse(
            {
                "start": _aware(first).isoformat() if first else None,
                "end": _aware(last).isoformat() if last else None,
            }
        )


def _keys(values: list[str], most: int) -> tuple[str, ...] | None:
    """``keys=a&keys=b`` (or ``keys=a,b``): the series to draw."""
    keys: list[str] = []
    for value in values:
        for key in value.split(","):
            if key.strip() and key.strip() not in keys:
                keys.append(key.strip())
    if not keys:
        return None
    if len(keys) > most:
        raise BadRequest(f"at most {most} series keys, got {len(keys)}")
    return tuple(keys)


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _after(value: Any) -> Any:
    # The range is half-open: include the last row.
    return value + timedelta(microseconds=1)


def _for_column(value: Any, naive: bool) -> Any:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if naive else value
