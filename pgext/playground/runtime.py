"""*How* the playground's database is made: engines, schema, bulk load,
pub/sub, and reuse of an already populated database.

``Playground.open(postgres_config, timescale_config)`` connects (pools
started), binds the tables of :mod:`pgext.playground.schema`; ``await
playground.populate("medium")`` (re)creates and fills everything;
``await playground.ensure("tiny")`` reuses a finished population or makes
one; ``await playground.close()`` stops hubs and pools.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import asyncpg
import numpy as np
import shapely

from pgext import seam
from pgext.engine import PgextEngine
from pgext.errors import ExtensionError
from pgext.identifiers import quote_ident, quote_literal, quote_qualified
from pgext.playground import data, schema
from pgext.playground.errors import NotOurTables
from pgext.playground.progress import Reporter
from pgext.playground.schema import (
    VENUE_CHANGES,
    District,
    HourlyReading,
    PlaygroundInfo,
    Reading,
    Sensor,
    Venue,
)
from pgext.postgis.copy import copy_columns
from pgext.pubsub import Hub, install_schema
from pgext.timescale import bulk_insert, setup
from pgext.timescale.aggregates import aggregate_spec

# What DROP statement removes a relation of this pg_class.relkind.
_DROP = {"v": "VIEW", "m": "MATERIALIZED VIEW", "r": "TABLE", "p": "TABLE"}

# Pools: the PGlite server runs one backend session for every client, so
# more connections only queue; native PostgreSQL gets a few.
_POOL = {"min_size": 1, "max_size": 4}


@dataclass
class Stats:
    """What a population made and how long it took (seconds)."""

    size: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{name}: {count:,}" for name, count in self.counts.items()]
        return ", ".join(parts)


async def _is_continuous_aggregate(conn: Any, name: str, schema: str) -> bool:
    found = await conn.fetchval(
        "SELECT to_regclass('timescaledb_information.continuous_aggregates')"
    )
    if found is None:
        return False
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name = $1 AND view_schema = $2",
            name,
            schema,
        )
    )


@dataclass
class Playground:
    """The playground's engines, hubs and tables of one run."""

    postgres: PgextEngine
    #: the engine of the time-series tables (the TimescaleDB server, or the
    #: PostgreSQL server when there is no TimescaleDB)
    series: PgextEngine
    timescale: bool
    hub: Hub
    live_hub: Hub
    reporter: Reporter = field(default_factory=Reporter)
    stats: Stats | None = None

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        postgres_config: dict[str, Any],
        timescale_config: dict[str, Any] | None = None,
        *,
        reporter: Reporter | None = None,
    ) -> Playground:
        """Connect, detect TimescaleDB, bind the tables, start the pools."""
        reporter = reporter or Reporter()
        postgres = PgextEngine(config=dict(postgres_config), extensions=("postgis",))
        await postgres.ensure_extension("postgis")
        series = postgres
        timescale = False
        if timescale_config is not None:
            candidate = PgextEngine(config=dict(timescale_config))
            caps = await candidate.capabilities()
            if caps.timescaledb is None:
                try:
                    await candidate.ensure_extension("timescaledb")
                    caps = await candidate.capabilities()
                except ExtensionError as error:  # reported, then fall back
                    reporter.say(f"  TimescaleDB not usable there ({error})")
            if caps.timescaledb is not None:
                series, timescale = candidate, True
        await postgres.capabilities()
        await series.capabilities()
        schema.bind(postgres, series if timescale else None)
        await postgres.start_connection_pool(**_POOL)
        if series is not postgres:
            await series.start_connection_pool(**_POOL)
        hub = Hub(postgres)
        live_hub = hub if series is postgres else Hub(series)
        return cls(postgres, series, timescale, hub, live_hub, reporter)

    async def close(self) -> None:
        """Stop the hubs and close the pools (idempotent)."""
        for hub in {id(h): h for h in (self.live_hub, self.hub)}.values():
            await hub.close()
        for engine in {id(e): e for e in (self.series, self.postgres)}.values():
            if engine.pool is not None:
                await engine.close_connection_pool()

    async def __aenter__(self) -> Playground:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def describe(self) -> str:
        where = (
            "TimescaleDB hypertable + continuous aggregate"
            if self.timescale
            else "plain PostgreSQL table + date_bin view (no TimescaleDB server)"
        )
        return f"readings: {where}"

    # -- reuse ---------------------------------------------------------------------

    async def populated(self) -> dict[str, Any] | None:
        """The info row of a finished population on these servers, if any."""
        try:
            rows = await PlaygroundInfo.select().limit(1)
        except asyncpg.UndefinedTableError:
            return None
        if not rows:
            return None
        row: dict[str, Any] = rows[0]
        if row["timescale"] != ("yes" if self.timescale else "no"):
            return None
        return row

    async def ensure(self, size: str = "tiny") -> dict[str, Any]:
        """Reuse a finished population, or make one of ``size``."""
        found = await self.populated()
        if found is None:
            await self.populate(size)
            found = await self.populated()
            assert found is not None
        return found

    # -- creating ------------------------------------------------------------------

    async def check_owned(self) -> None:
        """Refuse (:class:`NotOurTables`) when tables with the playground's
        names exist that the playground did not make: on a server given by
        the environment they may be someone's data."""
        info = seam.table_name(PlaygroundInfo)
        spatial = [seam.table_name(t) for t in (District, Venue, Sensor)]
        series = [seam.table_name(t) for t in (Reading, HourlyReading)]
        found = await _existing(self.postgres, [info, *spatial, *series])
        if info in found:
            found = set()
        if self.series is not self.postgres:
            # The marker table is on the other server: the readings table
            # carries a mark of its own (see create()).
            reading = seam.table_name(Reading)
            on_series = await _existing(self.series, series)
            if on_series and not await _marked(self.series, reading):
                found |= on_series
        if found:
            raise NotOurTables(
                f"tables {sorted(found)} exist and were not made by the playground "
                f"(there is no {info!r} table); use an empty database, or pass "
                "--force (populate(force=True)) to drop and replace them"
            )

    async def drop(self) -> None:
        """Drop everything the playground creates (in dependency order), in
        the current schema only: ``DROP TABLE IF EXISTS venue`` alone would
        follow the search path and could drop another schema's table."""
        steps = (
            (self.series, (HourlyReading, Reading)),
            # playground_info last: it marks the other tables as the
            # playground's (check_owned), also after an interrupted drop.
            (self.postgres, (Sensor, Venue, District, PlaygroundInfo)),
        )
        for engine, tables in steps:
            async with engine.connection() as conn:
                schema = await conn.fetchval("SELECT current_schema()")
                for table in tables:
                    name = seam.table_name(table)
                    kind = await conn.fetchval(
                        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace "
                        "WHERE c.relname = $1 AND n.nspname = $2",
                        name,
                        schema,
                    )
                    if kind is None:
                        continue
                    what = _DROP.get(kind, "TABLE")
                    if kind == "v" and await _is_continuous_aggregate(
                        conn, name, schema
                    ):
                        # Made by an earlier run with TimescaleDB (this run
                        # may be --no-timescale): TimescaleDB refuses DROP
                        # VIEW on a continuous aggregate.
                        what = "MATERIALIZED VIEW"
                    target = quote_qualified(name, schema)
                    await conn.execute(f"DROP {what} IF EXISTS {target} CASCADE")

    async def create(self) -> None:
        for table in (PlaygroundInfo, District, Venue, Sensor, Reading):
            await table.create_table()
        async with self.series.connection() as conn:
            # A constant, quoted: COMMENT takes no bind parameters.
            await conn.execute(
                f"COMMENT ON TABLE {quote_ident(seam.table_name(Reading))} "
                f"IS {quote_literal(_MARK)}"
            )
        if self.timescale:
            await setup(Reading)

    async def _create_hourly(self) -> None:
        if self.timescale:
            await setup(HourlyReading)  # created, then refreshed once
            return
        # Without TimescaleDB: the same select (TimeBucket renders date_bin)
        # as a plain view, computed at query time.
        spec = aggregate_spec(HourlyReading)
        assert spec is not None
        name = quote_ident(seam.table_name(HourlyReading))
        async with self.postgres.connection() as conn:
            await conn.execute(f"CREATE VIEW {name} AS {spec.sql()}")

    async def populate(
        self, size: str = data.DEFAULT_SIZE, force: bool = False
    ) -> Stats:
        """Drop, create and fill every table; returns the counts and times.

        Tables of the playground's names that it did not make itself are
        refused (:class:`NotOurTables`) unless ``force``."""
        if size not in data.SIZES:
            raise ValueError(
                f"unknown size {size!r}; choose one of {sorted(data.SIZES)}"
            )
        if not force:
            await self.check_owned()
        spec = data.SIZES[size]
        say = self.reporter
        stats = Stats(size)
        started = time.perf_counter()
        say.say(f"Creating the schema ({self.describe()})")
        with say.step("drop old tables, create tables"):
            await self.drop()
            await self.create()
            await install_schema(self.postgres)

        say.say(f"Filling it ({size}: see --size)")
        cells = data.districts(spec)
        count = await copy_columns(District, cells)
        district_ids = await self._ids(District)
        stats.counts["districts"] = count

        venues = data.venues(spec, cells["boundary"], district_ids)
        counter = say.counter("venues", spec.venues)
        stats.counts["venues"] = await copy_columns(
            Venue, venues, batch_size=5_000, progress=counter
        )
        stats.seconds["venues"] = counter.finish()
        venue_ids = await self._ids(Venue)

        sensors = data.sensors(spec, venue_ids, np.asarray(venues["location"]))
        stats.counts["sensors"] = await copy_columns(Sensor, sensors)
        sensor_ids = await self._ids(Sensor)

        rows = data.readings(spec, sensor_ids)
        where = "TimescaleDB" if self.timescale else "PostgreSQL"
        counter = say.counter(f"readings ({where})", len(rows))
        stats.counts["readings"] = await bulk_insert(
            Reading,
            rows,
            columns=["ts", "sensor_id", "temperature", "humidity"],
            batch_size=25_000,
            progress=counter,
        )
        stats.seconds["readings"] = counter.finish()

        label = "continuous aggregate" if self.timescale else "date_bin view"
        with say.step(f"hourly readings ({label})"):
            await self._create_hourly()
        with say.step("row-change feed on venues, statistics"):
            await VENUE_CHANGES.install(self.postgres)
            for engine in {id(e): e for e in (self.series, self.postgres)}.values():
                async with engine.connection() as conn:
                    await conn.execute("ANALYZE")
        await PlaygroundInfo.insert(
            PlaygroundInfo(
                size=size,
                venues=stats.counts["venues"],
                readings=stats.counts["readings"],
                timescale="yes" if self.timescale else "no",
                created=datetime.now(timezone.utc),
            )
        )
        stats.seconds["total"] = time.perf_counter() - started
        say.say(f"Ready in {stats.seconds['total']:.1f}s: {stats.describe()}")
        self.stats = stats
        return stats

    @staticmethod
    async def _ids(table: Any) -> list[int]:
        pk = seam.primary_key(table)
        rows = await table.select(pk).order_by(pk)
        name = seam.column_name(pk)
        return [row[name] for row in rows]


# Marks the readings table as the playground's on a TimescaleDB server of
# its own, where the playground_info table is not.
_MARK = "made by the pgext playground"


async def _marked(engine: PgextEngine, name: str) -> bool:
    async with engine.connection() as conn:
        found = await conn.fetchval(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = $1 AND n.nspname = current_schema()",
            name,
        )
    return bool(found == _MARK)


async def _existing(engine: PgextEngine, names: list[str]) -> set[str]:
    async with engine.connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relname = ANY($1::text[]) "
            "AND n.nspname = current_schema()",
            names,
        )
    return {row["relname"] for row in rows}


def bounds() -> shapely.Polygon:
    """The city's bounding box (a shapely polygon), handy in queries."""
    return shapely.box(*data.BOUNDS)
