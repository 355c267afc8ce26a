"""The widget metadata of pgext.widgets: the documented shape, from
geometry columns (field level) and time-series tables (table level)."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.columns import (
    BigInt,
    DoublePrecision,
    ForeignKey,
    Integer,
    Real,
    Text,
    Timestamp,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table
from piccolo.utils.pydantic import create_pydantic_model as piccolo_model

from pgext import widgets
from pgext.postgis import Geography, Geometry
from pgext.timescale import Columnstore, HashDimension, hypertable


class WgPlace(Table, tablename="wg_place"):
    name = Varchar()
    location = Geometry("Point", srid=4326)
    area = Geography("MultiPolygon", dimension="XY")


@hypertable(
    "taken",
    chunk_interval="1 day",
    space=HashDimension("sensor", 2),
    columnstore=Columnstore(segment_by=["site"], order_by=["taken DESC"]),
)
class WgMetric(Table, tablename="wg_metric"):
    created = Timestamptz()
    taken = Timestamptz()
    site = Varchar()
    sensor = Integer()
    place = ForeignKey(WgPlace)
    temperature = DoublePrecision()
    humidity = Real()


class WgLog(Table, tablename="wg_log"):
    at = Timestamp()
    level = Text()
    bytes = BigInt()


class WgPlain(Table, tablename="wg_plain"):
    name = Varchar()
    size = Integer()


def test_geometry_columns_emit_map_entries() -> None:
    assert widgets.table_widgets(WgPlace) == [
        {
            "widget": "map",
            "column": "location",
            "geometry_type": "Point",
            "srid": 4326,
            "dimension": "XY",
            "geography": False,
        },
        {
            "widget": "map",
            "column": "area",
            "geometry_type": "MultiPolygon",
            "srid": 4326,
            "dimension": "XY",
            "geography": True,
        },
    ]


def test_hypertables_emit_their_declared_time_column_and_keys() -> None:
    assert widgets.timeseries_widget(WgMetric) == {
        "widget": "timeseries",
        "time_column": "taken",
        # The space column is a key, not a measure.
        "value_columns": ["temperature", "humidity"],
        # Space dimension and segment-by columns first, then text/int/FK.
        "series_keys": ["sensor", "site", "place"],
        "hypertable": True,
    }


def test_plain_tables_with_a_time_column_are_time_series() -> None:
    assert widgets.timeseries_widget(WgLog) == {
        "widget": "timeseries",
        "time_column": "at",
        "value_columns": ["bytes"],
        "series_keys": ["level", "bytes"],
        "hypertable": False,
    }
    assert widgets.timeseries_widget(WgPlain) is None
    assert widgets.table_widgets(WgPlain) == []


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    field = schema["properties"][name]
    return dict(field["anyOf"][0]) if "anyOf" in field else dict(field)


@pytest.mark.parametrize("factory", ["pgext", "piccolo"])
def test_field_level_metadata_of_geometry_columns(factory: str) -> None:
    make = widgets.create_pydantic_model if factory == "pgext" else piccolo_model
    schema = make(WgPlace).model_json_schema()
    assert _field(schema, "location") == {
        "type": "string",
        "format": "geojson",
        "x-widget": "map",
        "x-geometry-type": "Point",
        "x-srid": 4326,
        "x-dimension": "XY",
        "x-geography": False,
    }
    assert _field(schema, "area")["x-geography"] is True


def test_table_level_metadata_in_the_pydantic_schema() -> None:
    schema = widgets.create_pydantic_model(
        WgMetric, json_schema_extra={"extra": {"note": "kept"}}
    ).model_json_schema()
    assert schema["extra"]["widgets"] == widgets.table_widgets(WgMetric)
    assert schema["extra"]["note"] == "kept"
    assert "help_text" in schema["extra"]
    # Through Piccolo's own function, with schema_extra():
    schema = piccolo_model(
        WgPlace, json_schema_extra=widgets.schema_extra(WgPlace)
    ).model_json_schema()
    assert [w["column"] for w in schema["extra"]["widgets"]] == ["location", "area"]


def test_annotate_puts_the_entry_on_the_time_column() -> None:
    from datetime import datetime, timezone

    class WgTicks(Table, tablename="wg_ticks"):
        at = Timestamptz()
        price = DoublePrecision()

    assert widgets.annotate(WgTicks)
    assert not widgets.annotate(WgPlain)
    model = piccolo_model(WgTicks)
    at = _field(model.model_json_schema(), "at")
    assert at["x-widget"] == "timeseries" and at["x-value-columns"] == ["price"]
    value = model(at="2026-01-01T00:00:00Z", price=1.5).at
    assert type(value) is datetime
    assert value == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_secret_columns_are_never_chart_values_or_keys() -> None:
    class WgPayroll(Table, tablename="wg_payroll"):
        paid = Timestamptz()
        employee = Varchar(secret=True)
        salary = DoublePrecision(secret=True)
        team = Varchar()
        hours = Real()

    entry = widgets.timeseries_widget(WgPayroll)
    assert entry is not None
    assert entry["value_columns"] == ["hours"]
    assert entry["series_keys"] == ["team"]
