"""``Playground`` in process, on the test servers: populate, rebuild, reuse,
the continuous aggregate (or its date_bin stand-in), the feed and the
channel."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

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
