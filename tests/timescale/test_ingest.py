"""Bulk ingest by binary COPY into a hypertable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from piccolo.columns import DoublePrecision, Integer, Text, Timestamptz
from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine
from pgext.errors import InvalidValue
from pgext.timescale import bulk_insert, hypertable, setup
from pgext.timescale.errors import IngestError

pytestmark = pytest.mark.timescale

# Relative to now: no policy here, but the data is what a user ingests.
START = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0)


@hypertable("ts", chunk_interval="1 day")
class InReading(Table, tablename="in_reading"):
    ts = Timestamptz()
    device_id = Integer()
    value = DoublePrecision(null=True)
    label = Text(null=True)


@pytest.fixture
async def table(ts: PgextEngine) -> AsyncIterator[type[InReading]]:
    seam.bind_engine(InReading, ts)
    await InReading.alter().drop_table(if_exists=True)
    await InReading.create_table()
    await setup(InReading)
    yield InReading
    await InReading.alter().drop_table(if_exists=True)


def rows(count: int) -> list[tuple[datetime, int, float, str]]:
    return [(START + timedelta(minutes=i), i % 5, i / 2, f"r{i}") for i in range(count)]


async def test_tuples_in_batches_with_progress(table: type[InReading]) -> None:
    seen: list[int] = []
    written = await bulk_insert(
        table,
        rows(2500),
        columns=["ts", "device_id", "value", "label"],
        batch_size=1000,
        progress=seen.append,
    )
    assert written == 2500
    assert seen == [1000, 2000, 2500]
    assert await table.count() == 2500
    last = await table.select().order_by(table.ts, ascending=False).first()
    assert last is not None
    assert last["ts"] == START + timedelta(minutes=2499) and last["label"] == "r2499"
    # ids come from the serial column: save/update by id works on COPYed rows.
    row = await table.objects().get(table.label == "r7")
    assert row is not None
    row.value = -1.0
    await row.save()
    assert await table.count().where(table.value == -1.0) == 1


async def test_dicts_instances_and_async_iterables(table: type[InReading]) -> None:
    async def produce():  # type: ignore[no-untyped-def]
        for ts, device, value, _ in rows(10):
            yield {"ts": ts, "device_id": device, "value": value}

    assert await bulk_insert(table, produce(), batch_size=3) == 10
    instances = [InReading(ts=START, device_id=9, value=1.0, label="x")]
    assert await bulk_insert(table, instances) == 1
    assert await table.count() == 11
    assert await table.count().where(table.label.is_null()) == 10


async def test_bad_input_writes_nothing(table: type[InReading]) -> None:
    with pytest.raises(InvalidValue, match="not columns"):
        await bulk_insert(table, rows(3), columns=["ts", "nope"])
    with pytest.raises(InvalidValue, match="batch_size"):
        await bulk_insert(table, rows(3), batch_size=0)
    columns = ["ts", "device_id", "value", "label"]
    good = rows(5)
    bad = [*good, (START, "not a number", 1.0, "x")]
    with pytest.raises(IngestError, match=r"row 5, column 'device_id'") as caught:
        await bulk_insert(table, bad, columns=columns, batch_size=2)
    assert (caught.value.row, caught.value.column) == (5, "device_id")
    assert isinstance(caught.value, InvalidValue)
    # A string in the time column, in a dict row of the first batch.
    as_dicts = [dict(zip(columns, r, strict=True)) for r in good]
    as_dicts[1]["ts"] = "2026-01-05 00:00"
    with pytest.raises(
        IngestError,
        match=r"row 1, column 'ts' of 'in_reading': expected a datetime, "
        r"got str '2026-01-05 00:00'",
    ):
        await bulk_insert(table, as_dicts)
    short = [*good[:2], (START, 1)]
    with pytest.raises(IngestError, match=r"row 2 has 2 values for 4 columns"):
        await bulk_insert(table, short, columns=columns)
    assert await table.count() == 0
