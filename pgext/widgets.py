"""Widget metadata: what a front end needs to know to pick a widget.

pgext tables carry two kinds of data that Piccolo Admin's fixed widget set
cannot show well: geometries (a map) and time series (a chart).  pgext emits
*metadata* about both into the JSON schema of Piccolo's
``create_pydantic_model`` so any front end can read it.  There is one shape,
documented here and in ``docs/admin.md``:

**Field level** (keys prefixed ``x-`` in the field's type schema; for a
nullable field that is ``anyOf[0]``, exactly where pydantic puts a type's own
schema).  Geometry columns emit, through :mod:`pgext.postgis.pydantic`::

    {"type": "string", "format": "geojson", "x-widget": "map",
     "x-geometry-type": "Point", "x-srid": 4326, "x-dimension": "XY",
     "x-geography": false}

**Table level** (``schema["extra"]["widgets"]``, a list: ``extra`` is the
table-level dict Piccolo already fills with ``help_text``)::

    [{"widget": "map", "column": "location", "geometry_type": "Point",
      "srid": 4326, "dimension": "XY", "geography": false},
     {"widget": "timeseries", "time_column": "ts", "value_columns": ["value"],
      "series_keys": ["device"], "hypertable": true}]

**Time column** (opt-in, field level): :func:`annotate` gives a time-series
table's time column a ``datetime`` value type whose schema carries the
table's entry, so Piccolo's own ``create_pydantic_model`` (and with it Piccolo
Admin's ``/schema/`` endpoints) emits it without any wrapper::

    {"type": "string", "format": "date-time", "x-widget": "timeseries",
     "x-value-columns": ["value"], "x-series-keys": ["device"],
     "x-hypertable": true}

It is opt-in because Piccolo's ``ModelBuilder`` only knows ``datetime``
itself as a value type.

The table-level list is what :func:`table_widgets` returns.  Piccolo's
``create_pydantic_model`` takes it through its public ``json_schema_extra``
parameter; :func:`create_pydantic_model` here does that for you.  Field-level
keys of geometry columns appear with Piccolo's own function too, because a
geometry column's ``value_type`` carries them.

A table is a time series when it is declared ``@hypertable`` (its declared
time column) or, for plain tables, when it has a ``Timestamptz`` /
``Timestamp`` column (the first one).  Value columns are its numeric columns
except keys (hypertable space/segment columns and integers named ``*_id``);
series keys are its text and integer columns (never the primary key nor the
time column), hypertable space/segment columns first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from piccolo.columns import (
    BigInt,
    Column,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Numeric,
    Real,
    SmallInt,
    Text,
    Timestamp,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from pgext import seam

__all__ = [
    "MAP",
    "TIMESERIES",
    "WIDGET_KEY",
    "TimeSeriesTime",
    "annotate",
    "create_pydantic_model",
    "geometry_columns",
    "map_widgets",
    "schema_extra",
    "table_widgets",
    "timeseries_widget",
]

WIDGET_KEY = "x-widget"
MAP = "map"
TIMESERIES = "timeseries"

_VALUE_TYPES: tuple[type[Column], ...] = (
    Integer,
    SmallInt,
    BigInt,
    Real,
    DoublePrecision,
    Numeric,
)
_KEY_TYPES: tuple[type[Column], ...] = (Varchar, Text, Integer, SmallInt, BigInt)
_TIME_TYPES: tuple[type[Column], ...] = (Timestamptz, Timestamp)


def _is_spatial(column: Column) -> bool:
    # Duck-typed so this core module does not import pgext.postgis (and
    # shapely) for tables without geometries.
    return (
        isinstance(getattr(column, "srid", None), int)
        and isinstance(getattr(column, "geometry_type", None), str)
        and hasattr(column, "is_geography")
    )


def geometry_columns(table: type[Table]) -> list[Column]:
    """The spatial (Geometry / Geography) columns of ``table``."""
    return [c for c in seam.table_columns(table) if _is_spatial(c)]


def map_widgets(table: type[Table]) -> list[dict[str, Any]]:
    """One ``map`` entry per spatial column."""
    return [
        {
            "widget": MAP,
            "column": seam.column_name(column),
            "geometry_type": column.geometry_type,  # type: ignore[attr-defined]
            "srid": column.srid,  # type: ignore[attr-defined]
            "dimension": getattr(column, "dimension", "XY"),
            "geography": bool(column.is_geography),  # type: ignore[attr-defined]
        }
        for column in geometry_columns(table)
    ]


def _hypertable_declaration(table: type[Table]) -> Any:
    try:
        from pgext.timescale.spec import hypertable_spec
    except ImportError:  # pragma: no cover - timescale is part of pgext
        return None
    return hypertable_spec(table)


def _looks_like_key(name: str, column: Column) -> bool:
    # An integer column named ``..._id`` identifies something (a sensor, a
    # device) even without a foreign key.
    integer = isinstance(column, (Integer, SmallInt, BigInt))
    return integer and (name == "id" or name.endswith("_id"))


def timeseries_widget(table: type[Table]) -> dict[str, Any] | None:
    """The ``timeseries`` entry of ``table``, or None when it has no time
    column."""
    columns = seam.table_columns(table)
    by_name = {seam.column_name(c): c for c in columns}
    spec = _hypertable_declaration(table)
    if spec is not None:
        time_name = str(spec.time_column)
    else:
        times = [c for c in columns if isinstance(c, _TIME_TYPES)]
        if not times:
            return None
        time_name = seam.column_name(times[0])
    pk = seam.column_name(seam.primary_key(table))
    preferred: list[str] = []
    if spec is not None:
        if spec.space is not None:
            preferred.append(str(spec.space.column))
        if spec.columnstore is not None:
            preferred += [str(name) for name in spec.columnstore.segment_by]
    values = [
        name
        for name, column in by_name.items()
        if isinstance(column, _VALUE_TYPES)
        and not isinstance(column, ForeignKey)
        and name != pk
        # The admin never sends secret columns; neither may a chart.
        and not seam.column_is_secret(column)
        # A key is not a measure: averaging sensor ids means nothing.
        and name not in preferred
        and not _looks_like_key(name, column)
    ]
    if not values:
        return None
    keys: list[str] = []
    candidates = preferred + [
        name
        for name, column in by_name.items()
        if isinstance(column, (*_KEY_TYPES, ForeignKey))
    ]
    for name in candidates:
        column = by_name.get(name)
        if column is None or name in (pk, time_name) or name in keys:
            continue
        if seam.column_is_secret(column):
            continue
        if isinstance(column, (Date, *_TIME_TYPES)):
            continue
        keys.append(name)
    return {
        "widget": TIMESERIES,
        "time_column": time_name,
        "value_columns": values,
        "series_keys": keys,
        "hypertable": spec is not None,
    }


def table_widgets(table: type[Table]) -> list[dict[str, Any]]:
    """Every widget entry of ``table`` (maps first, then the time series)."""
    widgets = map_widgets(table)
    series = timeseries_widget(table)
    if series is not None:
        widgets.append(series)
    return widgets


def schema_extra(
    table: type[Table], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``json_schema_extra`` for Piccolo's ``create_pydantic_model`` carrying
    the table-level widget list (merged into ``extra``)."""
    merged = dict(extra or {})
    inner = dict(merged.get("extra") or {})
    inner["widgets"] = table_widgets(table)
    merged["extra"] = inner
    return merged


def create_pydantic_model(table: type[Table], **kwargs: Any) -> Any:
    """Piccolo's ``create_pydantic_model`` with the widget metadata added to
    the model's JSON schema (all keyword arguments are passed on)."""
    from piccolo.utils.pydantic import create_pydantic_model as piccolo_model

    kwargs["json_schema_extra"] = schema_extra(table, kwargs.get("json_schema_extra"))
    return piccolo_model(table, **kwargs)


class TimeSeriesTime(datetime):
    """A time column's value type carrying the table's ``timeseries``
    entry in its JSON schema (see :func:`annotate`).  Values validate and
    serialise exactly as ``datetime``."""

    entry: ClassVar[dict[str, Any]] = {}

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return handler.generate_schema(datetime)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = dict(handler(schema))
        json_schema[WIDGET_KEY] = TIMESERIES
        json_schema["x-value-columns"] = list(cls.entry["value_columns"])
        json_schema["x-series-keys"] = list(cls.entry["series_keys"])
        json_schema["x-hypertable"] = bool(cls.entry["hypertable"])
        return json_schema


def annotate(table: type[Table]) -> bool:
    """Give ``table``'s time column the :class:`TimeSeriesTime` value type
    (per column instance, as pgext's geometry columns do), so the
    ``timeseries`` entry appears in every pydantic schema of the table.
    Returns False when the table is not a time series."""
    entry = timeseries_widget(table)
    if entry is None:
        return False
    for column in seam.table_columns(table):
        if seam.column_name(column) == entry["time_column"]:
            name = f"{seam.table_name(table).title().replace('_', '')}Time"
            column.value_type = type(name, (TimeSeriesTime,), {"entry": entry})
            return True
    return False  # pragma: no cover - the entry names an existing column
