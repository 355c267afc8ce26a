"""``Playground`` in process, on the test servers: populate, rebuild, reuse,
the continuous aggregate (or its date_bin stand-in), the feed and the
channel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from pgext import seam
from pgext.playground import (
    ALERTS,
    VENUE_CHANGES,
    Alert,
    District,
    HourlyReading,
    Playground,
    PlaygroundInfo,
    Reading,
    Sensor,
    Venue,
)
from pgext.playground.errors import NotOurTables
from pgext.playground.progress import Reporter
from pgext.timescale import ReadOnlyError

QUIET = Reporter(quiet=True)


async def _hourly_matches_raw(sensor_id: int) -> None:
    hours = await (
        HourlyReading.select()
        .where(HourlyReading.sensor_id == sensor_id)
        .order_by(HourlyReading.bucket)
    )
    assert len(hours) >= 2
    for hour in hours[:3]:
        start = hour["bucket"]
        assert start.minute == start.second == 0
        raw = await Reading.count().where(
            (Reading.sensor_id == sensor_id)
            & (Reading.ts >= start)
            & (Reading.ts < start + timedelta(hours=1))
        )
        assert raw == hour["readings"]


@pytest.mark.postgres
@pytest.mark.timescale
async def test_populate_twice_then_reuse(
    postgres_config: dict[str, Any], timescale_config: dict[str, Any]
) -> None:
    playground = await Playground.open(
        postgres_config, timescale_config, reporter=QUIET
    )
    try:
        assert playground.timescale
        first = await playground.populate("tiny")
        second = await playground.populate("tiny")  # drops and rebuilds
        assert (
            first.counts
            == second.counts
            == {
                "districts": 8,
                "venues": 300,
                "sensors": 20,
                "readings": 4000,
            }
        )
        assert await Venue.count() == 300 and await Reading.count() == 4000
        info = await PlaygroundInfo.select()
        assert len(info) == 1 and info[0]["timescale"] == "yes"
        # ensure() reuses the finished population instead of rebuilding.
        reused = await playground.ensure("small")
        assert reused["created"] == info[0]["created"] and reused["size"] == "tiny"

        sensor = (await Sensor.select(Sensor.id).limit(1))[0]["id"]
        await _hourly_matches_raw(sensor)
        with pytest.raises(ReadOnlyError):
            await HourlyReading.create_table()

        # Foreign keys and spatial joins hold across the generated tables.
        inside = await Venue.count().where(
            Venue.location.within(Venue.district.boundary)
        )
        assert inside == 300
        assert await District.count() == 8
    finally:
        await playground.close()


@pytest.mark.postgres
async def test_without_timescaledb_same_queries(
    postgres_config: dict[str, Any],
) -> None:
    playground = await Playground.open(postgres_config, None, reporter=QUIET)
    try:
        assert not playground.timescale and playground.series is playground.postgres
        await playground.populate("tiny")
        sensor = (await Sensor.select(Sensor.id).limit(1))[0]["id"]
        await _hourly_matches_raw(sensor)  # a date_bin view on PostgreSQL

        async with playground.hub.subscribe(VENUE_CHANGES.channel, ALERTS) as events:
            venue = (await Venue.select(Venue.id, Venue.capacity).limit(1))[0]
            await Venue.update({Venue.capacity: venue["capacity"] + 5}).where(
                Venue.id == venue["id"]
            )
            change = await events.get(timeout=10)
            await playground.hub.publish(
                ALERTS,
                Alert(
                    sensor_id=sensor,
                    temperature=30.0,
                    ts=datetime.now(timezone.utc),
                    message="hot",
                ),
            )
            alert = await events.get(timeout=10)
        assert change.data.op == "update" and change.data.pk == venue["id"]
        assert change.data.row["capacity"] == venue["capacity"] + 5
        assert alert.data.temperature == 30.0
    finally:
        await playground.close()


@pytest.mark.postgres
async def test_refuses_tables_it_did_not_make(postgres_config: dict[str, Any]) -> None:
    """On a server given by the environment, a ``venue`` table that the
    playground did not make is someone's data: refused, left alone; with
    ``force`` it is replaced."""
    schema, other = "pgext_playground_owned", "pgext_playground_other"
    admin = await asyncpg.connect(str(postgres_config["dsn"]))
    try:
        for name in (schema, other):
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            await admin.execute(f"CREATE SCHEMA {name}")
        await admin.execute(f"CREATE TABLE {schema}.venue (note text)")
        await admin.execute(f"INSERT INTO {schema}.venue VALUES ('mine')")
        # Further down the search path: never the playground's to drop.
        await admin.execute(f"CREATE TABLE {other}.district (note text)")
        config = {
            **postgres_config,
            "server_settings": {"search_path": f"{schema},{other},public"},
        }
        playground = await Playground.open(config, None, reporter=QUIET)
        try:
            with pytest.raises(NotOurTables, match="venue"):
                await playground.populate("tiny")
            assert await admin.fetchval(f"SELECT note FROM {schema}.venue") == "mine"
            await playground.populate("tiny", force=True)
            assert await admin.fetchval(f"SELECT count(*) FROM {schema}.venue") == 300
            await playground.populate("tiny")  # its own tables now: no refusal
            assert await admin.fetchval(f"SELECT count(*) FROM {other}.district") == 0
        finally:
            await playground.close()
    finally:
        for name in (schema, other):
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.close()


@pytest.mark.postgres
@pytest.mark.timescale
async def test_its_readings_on_a_server_of_their_own_stay_its_own(
    postgres_config: dict[str, Any], timescale_config: dict[str, Any]
) -> None:
    """The ownership marker table is on the PostGIS server; readings it made
    on the TimescaleDB server are recognised without it (a throwaway PostGIS
    server is new on every run: here a new schema stands for it), and a
    ``reading`` table it did not make is refused."""
    schemas = ("pgext_playground_first", "pgext_playground_second")
    admin = await asyncpg.connect(str(postgres_config["dsn"]))
    try:
        for name in schemas:
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            await admin.execute(f"CREATE SCHEMA {name}")
        for number, name in enumerate(schemas):
            config = {
                **postgres_config,
                "server_settings": {"search_path": f"{name},public"},
            }
            playground = await Playground.open(config, timescale_config, reporter=QUIET)
            try:
                if number == 0:
                    await playground.populate("tiny", force=True)
                    continue
                await playground.populate("tiny")  # no refusal: its readings
                assert await Reading.count() == 4000
                async with playground.series.connection() as conn:
                    await conn.execute("COMMENT ON TABLE reading IS NULL")
                await PlaygroundInfo.alter().drop_table()
                with pytest.raises(NotOurTables, match="reading"):
                    await playground.populate("tiny")
                assert await Reading.count() == 4000  # left alone
                await playground.drop()
            finally:
                await playground.close()
    finally:
        for name in schemas:
            await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await admin.close()


@pytest.mark.timescale
async def test_without_timescaledb_where_it_made_a_continuous_aggregate(
    timescale_config: dict[str, Any],
) -> None:
    """One database with both extensions (the compose route): a run with
    TimescaleDB leaves a continuous aggregate, a --no-timescale run replaces
    it with its date_bin view (TimescaleDB refuses DROP VIEW on it)."""
    probe = await asyncpg.connect(**timescale_config)
    try:
        postgis = await probe.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
        )
    finally:
        await probe.close()
    if not postgis:
        pytest.skip("this TimescaleDB server has no PostGIS (PGlite)")
    with_ts = await Playground.open(timescale_config, timescale_config, reporter=QUIET)
    try:
        assert with_ts.timescale
        await with_ts.populate("tiny")
    finally:
        await with_ts.close()
    without = await Playground.open(timescale_config, None, reporter=QUIET)
    try:
        assert not without.timescale
        await without.populate("tiny")
        sensor = (await Sensor.select(Sensor.id).limit(1))[0]["id"]
        await _hourly_matches_raw(sensor)  # now the date_bin view
        async with without.postgres.connection() as conn:
            name = seam.table_name(HourlyReading)
            kind = await conn.fetchval(
                "SELECT relkind::text FROM pg_class WHERE relname = $1", name
            )
            caggs = await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
                " WHERE view_name = $1",
                name,
            )
        assert kind == "v" and caggs == 0
        await without.drop()
    finally:
        await without.close()
