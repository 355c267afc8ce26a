"""Declarations are checked at import time: bad input raises a pgext error
before any SQL exists.  No server needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.table import Table

from pgext.errors import InvalidIdentifier, PgextError
from pgext.timescale import (
    Columnstore,
    ContinuousAggregate,
    HashDimension,
    HypertableDeclarationError,
    InvalidInterval,
    RefreshPolicy,
    TimeBucket,
    continuous_aggregate,
    hypertable,
)
from pgext.timescale.intervals import parse_interval
from pgext.timescale.spec import hypertable_spec
from tests.timescale.models import TsReading


def _table(name: str) -> type[Table]:
    return type(
        name,
        (Table,),
        {"ts": Timestamptz(), "device_id": Integer(), "label": Varchar()},
    )


@pytest.mark.parametrize(
    ("given", "text", "seconds"),
    [
        ("1 hour", "1 hour", 3600),
        ("7 Days", "7 days", 7 * 86400),
        ("1 day 2 hours", "1 day 2 hours", 93600),
        ("15min", "15 minutes", 900),
        ("1 month", "1 month", None),
        (timedelta(days=1), "1 day", 86400),
        (timedelta(minutes=90), "90 minutes", 5400),
        (timedelta(weeks=2), "14 days", 14 * 86400),
        (timedelta(milliseconds=5), "5 milliseconds", 0.005),
    ],
)
def test_intervals_are_normalised(
    given: object, text: str, seconds: float | None
) -> None:
    interval = parse_interval(given)
    assert interval.text == text
    assert interval.seconds == seconds
    assert interval.literal() == f"'{text}'::interval"


@pytest.mark.parametrize(
    "given",
    [
        "",
        "1 fortnight",
        "1 hour; DROP TABLE x",
        "'1 hour'",
        "-1 day",
        "0 days",
        7,
        1.5,
        None,
    ],
)
def test_bad_intervals_are_refused(given: object) -> None:
    with pytest.raises(InvalidInterval):
        parse_interval(given)


def test_hypertable_spec_widens_the_primary_key() -> None:
    spec = hypertable_spec(TsReading)
    assert spec is not None
    assert spec.primary_key == ("id", "ts", "device_id")
    state = spec.state()
    assert state["chunk_interval"] == "1 day"
    assert state["columnstore"] == {
        "segment_by": ["device_id"],
        "order_by": ["ts DESC"],
        "after": "7 days",
    }
    assert state["retention"] == "90 days"


def test_unknown_time_column() -> None:
    with pytest.raises(HypertableDeclarationError, match="'when' is not a column"):
        hypertable("when")(_table("Unknown1"))


def test_non_time_column_as_time_dimension() -> None:
    with pytest.raises(HypertableDeclarationError, match="is a Integer"):
        hypertable("device_id")(_table("NotTime1"))


def test_interval_of_the_wrong_type() -> None:
    with pytest.raises(InvalidInterval, match="chunk_interval must be a"):
        hypertable("ts", chunk_interval=86400)(_table("WrongType1"))  # type: ignore[arg-type]
    with pytest.raises(HypertableDeclarationError, match="varies in length"):
        hypertable("ts", chunk_interval="1 month")(_table("WrongType2"))
    with pytest.raises(InvalidInterval, match="retention"):
        hypertable("ts", retention="ninety days")(_table("WrongType3"))


def test_bad_columnstore_and_space_settings() -> None:
    with pytest.raises(HypertableDeclarationError, match="segment_by column 'nope'"):
        hypertable("ts", columnstore=Columnstore(segment_by=["nope"]))(_table("Cs1"))
    with pytest.raises(HypertableDeclarationError, match="order_by column 'ts; DROP'"):
        hypertable("ts", columnstore=Columnstore(order_by=["ts; DROP"]))(_table("Cs2"))
    with pytest.raises(HypertableDeclarationError, match="order_by item"):
        hypertable("ts", columnstore=Columnstore(order_by=[7]))(_table("Cs4"))  # type: ignore[list-item]
    with pytest.raises(HypertableDeclarationError, match="order_by column"):
        hypertable("ts", columnstore=Columnstore(order_by=["x DESC"]))(_table("Cs3"))
    with pytest.raises(HypertableDeclarationError, match="partitions"):
        hypertable("ts", space=HashDimension("device_id", 0))(_table("Sp1"))
    with pytest.raises(HypertableDeclarationError, match="space dimension column"):
        hypertable("ts", space=HashDimension("dev", 2))(_table("Sp2"))


def test_identifier_that_postgres_would_truncate() -> None:
    with pytest.raises(InvalidIdentifier):
        hypertable("t" * 70)(_table("Long1"))


def test_aggregate_declarations_are_checked() -> None:
    with pytest.raises(PgextError):
        continuous_aggregate(query=TsReading.select(), refresh="1 hour")  # type: ignore[arg-type]
    with pytest.raises(InvalidInterval):
        continuous_aggregate(
            query=TsReading.select(), refresh=RefreshPolicy(end_offset="soon")
        )
    with pytest.raises(
        HypertableDeclarationError, match="ContinuousAggregate subclass"
    ):
        continuous_aggregate(query=TsReading.select())(_table("NotAgg"))  # type: ignore[type-var]


def test_aggregate_on_a_plain_table_is_refused() -> None:
    plain = _table("PlainSource")

    @continuous_aggregate(query=plain.select(TimeBucket("1 hour", plain.ts)))  # type: ignore[attr-defined]
    class FromPlain(ContinuousAggregate):
        bucket = Timestamptz()

    from pgext.timescale.aggregates import aggregate_spec

    spec = aggregate_spec(FromPlain)
    assert spec is not None
    with pytest.raises(
        HypertableDeclarationError, match="neither a declared hypertable"
    ):
        spec.state()
