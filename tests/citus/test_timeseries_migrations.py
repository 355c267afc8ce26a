"""A ``@time_partitioned`` distributed table carried by the real ``piccolo
migrations`` CLI: forwards leaves a range-partitioned distributed table with
its time partitions, backwards a plain local table with the rows kept (as
docs/scale-out.md says); each step checked in the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pgext.engine import PgextEngine
from tests.piccolo_cli import PiccoloApp, forget_migrations

pytestmark = pytest.mark.citus

APP = "cttsm"

TABLES = """
from piccolo.columns import DoublePrecision, Integer, Timestamptz
from piccolo.table import Table

from pgext.citus import distributed, time_partitioned


@time_partitioned("ts", interval="1 day", premake="3 days")
@distributed("device")
class TsmReading(Table):
    device = Integer(null=False)
    ts = Timestamptz()
    value = DoublePrecision()
"""


async def _clean(engine: PgextEngine) -> None:
    async with engine.connection() as connection:
        await connection.execute("DROP TABLE IF EXISTS tsm_reading CASCADE")
        await forget_migrations(connection, APP)


@pytest.fixture
async def clean(citus: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _clean(citus)
    yield citus
    await _clean(citus)


async def _catalogue(engine: PgextEngine) -> dict[str, Any]:
    async with engine.connection() as connection:
        return dict(
            await connection.fetchrow(
                "SELECT "
                "(SELECT citus_table_type FROM citus_tables "
                " WHERE table_name = 'tsm_reading'::regclass) AS kind, "
                "(SELECT pg_get_partkeydef('tsm_reading'::regclass)) AS part_key, "
                "(SELECT count(*) FROM pg_inherits "
                " WHERE inhparent = 'tsm_reading'::regclass) AS partitions, "
                "(SELECT count(*) FROM time_partitions "
                " WHERE parent_table = 'tsm_reading'::regclass "
                " AND to_value::timestamptz > now() + interval '2 days') AS ahead, "
                "(SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                " WHERE conrelid = 'tsm_reading'::regclass AND contype = 'p') AS pk, "
                "(SELECT count(*) FROM tsm_reading) AS rows"
            )
        )


async def test_time_partitioned_forwards_and_backwards(
    clean: PgextEngine, citus_config: dict[str, Any], tmp_path: Path
) -> None:
    app = PiccoloApp(tmp_path, APP, TABLES, ["TsmReading"], citus_config)
    out = app.run("migrations", "new", APP, "--auto")
    files = app.migrations()
    assert len(files) == 2, out
    assert '"interval": "1 day"' in files[1].read_text()

    app.run("migrations", "forwards", APP)
    found = await _catalogue(clean)
    assert found["kind"] == "distributed"
    assert found["part_key"] == "RANGE (ts)"
    assert found["partitions"] >= 3 and found["ahead"] >= 1
    assert found["pk"] == "PRIMARY KEY (device, id, ts)"
    assert "No changes detected" in app.run("migrations", "new", APP, "--auto")
    async with clean.connection() as connection:
        await connection.execute(
            # Within the partitions premade from now on (none in the past).
            "INSERT INTO tsm_reading (device, ts, value) "
            "SELECT g % 4, now() + g * interval '1 hour', g "
            "FROM generate_series(0, 47) g"
        )
        total = await connection.fetchval("SELECT sum(value) FROM tsm_reading")

    # Backwards one step: a plain local table, the rows kept.
    app.run("migrations", "backwards", APP, "--auto_agree")
    found = await _catalogue(clean)
    assert found["kind"] is None and found["part_key"] is None
    assert found["partitions"] == 0
    assert found["pk"] == "PRIMARY KEY (id)"
    assert found["rows"] == 48
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT sum(value) FROM tsm_reading") == total

    # Forwards again: the rows go into time partitions of the shards.
    app.run("migrations", "forwards", APP)
    found = await _catalogue(clean)
    assert found["kind"] == "distributed" and found["rows"] == 48
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT sum(value) FROM tsm_reading") == total
    app.run("migrations", "backwards", APP, "--migration_id=all", "--auto_agree")
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT to_regclass('tsm_reading')") is None
