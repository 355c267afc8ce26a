"""The engine: codecs on every kind of connection, capability detection,
extension creation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, ClassVar

import asyncpg
import pytest
import shapely
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

import pgext.postgis  # noqa: F401  (its geometry codec is registered)
from pgext import seam
from pgext.codecs import TypeCodec, register_codec, unregister_codec
from pgext.engine import PgextEngine
from pgext.errors import ExtensionNotAvailable, ExtensionNotPreloaded
from pgext.postgis.codec import EWKB

pytestmark = pytest.mark.postgres


class Decoded(dict[str, str]):
    """What the test codec returns, so a test can tell it was used."""


def _decode_hstore(text: str) -> Decoded:
    pairs = (item.split("=>") for item in text.split(", ") if item)
    return Decoded({k.strip('"'): v.strip('"') for k, v in pairs})


def _encode_hstore(value: dict[str, str]) -> str:
    return ", ".join(f'"{k}"=>"{v}"' for k, v in value.items())


class Probe(Table):
    """Only used for ``raw`` queries; never created."""


QUERY = "SELECT 'a=>1'::hstore AS h"


@pytest.fixture
def hstore_codec() -> Iterator[None]:
    register_codec(TypeCodec("hstore", _encode_hstore, _decode_hstore, "text"))
    yield
    unregister_codec("hstore")


@pytest.fixture
async def engine(postgres_config: dict[str, Any], hstore_codec: None) -> Any:
    engine = PgextEngine(config=postgres_config)
    await engine.ensure_extension("hstore")
    seam.bind_engine(Probe, engine)
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()


def _assert_decoded(rows: list[dict[str, Any]]) -> None:
    assert isinstance(rows[0]["h"], Decoded), type(rows[0]["h"])
    assert rows[0]["h"] == {"a": "1"}


async def test_codec_on_plain_connection(engine: PgextEngine) -> None:
    assert engine.pool is None
    _assert_decoded(await Probe.raw(QUERY))


async def test_codec_on_pool_connection(engine: PgextEngine) -> None:
    await engine.start_connection_pool(min_size=1, max_size=2)
    _assert_decoded(await Probe.raw(QUERY))
    async with engine.pool.acquire() as connection:  # type: ignore[union-attr]
        assert isinstance(await connection.fetchval("SELECT 'b=>2'::hstore"), Decoded)


async def test_codec_in_transaction_without_pool(engine: PgextEngine) -> None:
    async with engine.transaction():
        _assert_decoded(await Probe.raw(QUERY))


async def test_codec_in_transaction_with_pool(engine: PgextEngine) -> None:
    await engine.start_connection_pool(min_size=1, max_size=2)
    async with engine.transaction():
        _assert_decoded(await Probe.raw(QUERY))


async def test_codec_in_run_sync(engine: PgextEngine) -> None:
    # run_sync starts its own event loop in a worker thread when one runs.
    rows = await asyncio.to_thread(Probe.raw(QUERY).run_sync)
    _assert_decoded(rows)


async def test_codec_encodes_parameters(engine: PgextEngine) -> None:
    rows = await Probe.raw("SELECT {}::hstore -> 'k' AS v", {"k": "x"})
    assert rows == [{"v": "x"}]


async def test_codec_in_migration(
    piccolo_conf: str, hstore_codec: None, postgres_config: dict[str, Any]
) -> None:
    from piccolo.engine import engine_finder

    conf_engine = engine_finder()
    assert isinstance(conf_engine, PgextEngine)
    await conf_engine.ensure_extension("hstore")
    seen: list[Any] = []

    async def step() -> None:
        async with conf_engine.connection() as connection:
            seen.append(await connection.fetchval("SELECT 'm=>1'::hstore"))

    manager = MigrationManager(migration_id="2026-01-01T00:00:00", app_name="t")
    manager.add_raw(step)
    await manager.run()
    assert isinstance(seen[0], Decoded) and seen[0] == {"m": "1"}


async def test_missing_type_is_tolerated_then_picked_up(
    postgres_config: dict[str, Any], hstore_codec: None
) -> None:
    engine = PgextEngine(config=postgres_config)
    async with engine.connection() as connection:
        await connection.execute("DROP EXTENSION IF EXISTS hstore CASCADE")
    await engine.start_connection_pool(min_size=1, max_size=1)
    try:
        # The codec's type does not exist: connections still work.
        async with engine.connection() as connection:
            assert await connection.fetchval("SELECT 1") == 1
        await engine.ensure_extension("hstore")
        async with engine.connection() as connection:
            assert isinstance(await connection.fetchval(QUERY), Decoded)
    finally:
        await engine.close_connection_pool()


async def test_capabilities_postgis(pg_engine: PgextEngine) -> None:
    caps = await pg_engine.capabilities(refresh=True)
    assert caps.installed("postgis")
    assert caps.postgis is not None and caps.postgis >= (3,)
    assert caps.postgres_major >= 12
    # The same answer as the catalogue (a compose-style database has both).
    rows = await pg_engine.execute_in_new_connection(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    )
    found = rows[0]["extversion"] if rows else None
    timescaledb = caps.extensions.get("timescaledb")
    assert (timescaledb.installed_version if timescaledb else None) == found
    assert "postgis" in caps.describe()


async def test_missing_extension_is_a_clear_error_and_nothing_is_created(
    pg_engine: PgextEngine,
) -> None:
    with pytest.raises(ExtensionNotAvailable, match="not available"):
        await pg_engine.ensure_extension("surely_no_such_extension")
    caps = await pg_engine.capabilities(refresh=True)
    if not caps.available("timescaledb"):
        with pytest.raises(ExtensionNotAvailable, match="timescaledb"):
            await pg_engine.ensure_extension("timescaledb")
    async with pg_engine.connection() as connection:
        names = await connection.fetch("SELECT extname FROM pg_extension")
    assert "surely_no_such_extension" not in {r["extname"] for r in names}


async def test_engine_construction_never_fails_for_an_extension(
    postgres_config: dict[str, Any],
) -> None:
    with pytest.warns(UserWarning, match="surely_no_such_extension"):
        engine = PgextEngine(
            config=postgres_config, extensions=("surely_no_such_extension",)
        )
    assert engine.extension_warnings


async def test_unreachable_server_does_not_fail_construction() -> None:
    with pytest.warns(UserWarning):
        engine = PgextEngine(
            config={"dsn": "postgres://nobody@127.0.0.1:1/none"},
            extensions=("postgis",),
        )
    with pytest.raises(OSError):
        await engine.capabilities()


@pytest.mark.timescale
async def test_capabilities_timescaledb(ts_engine: PgextEngine) -> None:
    caps = await ts_engine.capabilities(refresh=True)
    assert caps.timescaledb is not None and caps.timescaledb >= (2, 0)
    assert caps.timescaledb_license in {"timescale", "apache"}
    assert "timescaledb" in caps.preload_libraries or caps.installed("timescaledb")


def test_preload_error_is_explained() -> None:
    from pgext.capabilities import Capabilities, ExtensionInfo

    caps = Capabilities(
        server_version_num=150000,
        server_version="15.0",
        extensions={"timescaledb": ExtensionInfo("timescaledb", "2.28.0", None)},
        preload_libraries=("pg_stat_statements",),
    )
    with pytest.raises(ExtensionNotPreloaded, match="shared_preload_libraries"):
        caps.check_creatable("timescaledb")


async def test_driver_errors_pass_through_unchanged(pg_engine: PgextEngine) -> None:
    async with pg_engine.connection() as connection:
        with pytest.raises(asyncpg.UndefinedTableError):
            await connection.execute("SELECT * FROM no_such_table_here")


class CountingConnection(asyncpg.Connection):  # type: ignore[misc]
    """Records what a connection is asked to do during codec set-up."""

    calls: ClassVar[list[str]] = []

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        CountingConnection.calls.append(query)
        return await super().fetch(query, *args, **kwargs)

    async def set_type_codec(self, typename: str, **kwargs: Any) -> None:
        CountingConnection.calls.append(f"set_type_codec {typename}")
        await super().set_type_codec(typename, **kwargs)


async def _counted_connection(engine: PgextEngine) -> tuple[list[str], Any]:
    CountingConnection.calls.clear()
    connection = await engine.get_new_connection()
    return list(CountingConnection.calls), connection


async def test_new_connections_get_codecs_without_queries(
    postgres_config: dict[str, Any], hstore_codec: None
) -> None:
    """A connection per query (Piccolo without a pool) must not pay catalog
    look-ups on each: the first connection finds the types, later ones reuse
    what it found and run no query at all before the user's."""
    engine = PgextEngine(
        config={**postgres_config, "connection_class": CountingConnection}
    )
    await engine.ensure_extension("hstore")
    await engine.refresh_codecs()
    first_calls, first = await _counted_connection(engine)
    later_calls, later = await _counted_connection(engine)
    try:
        assert len(first_calls) == 1 and "pg_catalog.pg_type" in first_calls[0]
        assert later_calls == []
        for connection in (first, later):
            assert isinstance(await connection.fetchval(QUERY), Decoded)
            # At the driver level the geometry codec gives EWKB placeholders
            # (the engine turns whole columns into shapely objects).
            geometry = await connection.fetchval("SELECT 'POINT(1 2)'::geometry")
            assert isinstance(geometry, EWKB)
            assert shapely.from_wkb(bytes(geometry)) == shapely.Point(1, 2)
    finally:
        await first.close()
        await later.close()


async def test_type_created_by_plain_sql_is_picked_up(
    postgres_config: dict[str, Any], hstore_codec: None
) -> None:
    """While a registered type is missing nothing is cached: a connection
    opened after CREATE EXTENSION (by any means) gets its codec."""
    raw = await asyncpg.connect(**postgres_config)
    try:
        await raw.execute("DROP EXTENSION IF EXISTS hstore CASCADE")
        engine = PgextEngine(config=postgres_config)  # connects: hstore missing
        async with engine.connection() as connection:
            assert await connection.fetchval("SELECT 1") == 1
        await raw.execute("CREATE EXTENSION hstore")
    finally:
        await raw.close()
    async with engine.connection() as connection:
        assert isinstance(await connection.fetchval(QUERY), Decoded)


async def test_refresh_codecs_follows_a_recreated_extension(
    postgres_config: dict[str, Any], hstore_codec: None
) -> None:
    """Dropped and created again, a type has a new OID: refresh_codecs makes
    new connections look it up again."""
    engine = PgextEngine(config=postgres_config)
    await engine.ensure_extension("hstore")
    async with engine.connection() as connection:
        assert isinstance(await connection.fetchval(QUERY), Decoded)
        old = await connection.fetchval("SELECT 'hstore'::regtype::oid")
        await connection.execute("DROP EXTENSION hstore CASCADE")
        await connection.execute("CREATE EXTENSION hstore")
        assert await connection.fetchval("SELECT 'hstore'::regtype::oid") != old
    await engine.refresh_codecs()
    async with engine.connection() as connection:
        assert isinstance(await connection.fetchval(QUERY), Decoded)
