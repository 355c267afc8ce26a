"""Test servers and engines.

The servers are real: a throwaway PostgreSQL cluster with PostGIS and a
TimescaleDB (native where installed, else PGlite; ``PGEXT_TIMESCALE_ENGINE``
chooses), each started on first use and stopped at the end of the run,
unless ``PGEXT_POSTGRES_DSN`` / ``PGEXT_TIMESCALE_DSN`` name running servers
(see ``pgext/harness/servers.py``).  ``off`` skips the tests needing that
server, and the skip says which.  The licence tests use a native cluster
running ``timescaledb.license = 'apache'`` (or ``PGEXT_APACHE_DSN``).

The end of the run lists the servers the tests used, with their versions,
so a CI log says what was tested.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from pgext.engine import PgextEngine
from pgext.harness.citus import CitusCluster, citus_version
from pgext.harness.native import native_version, start_native, start_timescale
from pgext.harness.postgres import LocalPostgres
from pgext.harness.servers import (
    OFF,
    POSTGRES_ENV,
    SHARED_SESSION_ENV,
    TIMESCALE_ENV,
    dsn_config,
)

APACHE_ENV = "PGEXT_APACHE_DSN"

# What each server fixture connected to, for the summary at the end.
_USED: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for role, text in sorted(_USED.items()):
        terminalreporter.write_line(f"pgext server {role}: {text}")


def _skip_unless_given(env: str, what: str) -> None:
    if os.environ.get(env) == OFF:
        if os.environ.get("CI"):
            pytest.fail(f"{env}=off is not allowed in CI: {what} is required")
        pytest.skip(f"{what} not given ({env}=off)")


@pytest.fixture(scope="session")
def local_postgres() -> Iterator[LocalPostgres | None]:
    """The harness's own cluster, or None when the user gave a server."""
    _skip_unless_given(POSTGRES_ENV, "PostgreSQL/PostGIS server")
    if os.environ.get(POSTGRES_ENV):
        yield None
        return
    server = LocalPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_config(local_postgres: LocalPostgres | None) -> dict[str, Any]:
    if local_postgres is None:
        return dsn_config(os.environ[POSTGRES_ENV])
    return dsn_config(local_postgres.dsn)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_config: dict[str, Any]) -> str:
    return str(postgres_config["dsn"])


@pytest.fixture(scope="session")
def piccolo_conf(postgres_dsn: str) -> str:
    """Point Piccolo's ``engine_finder`` (migrations, CLI) at the PostGIS
    server through ``tests/piccolo_conf.py``; returns the module name."""
    os.environ["PGEXT_TEST_CONF_DSN"] = postgres_dsn
    os.environ["PICCOLO_CONF"] = "tests.piccolo_conf"
    return "tests.piccolo_conf"


@pytest.fixture(scope="session")
def timescale_config() -> Iterator[dict[str, Any]]:
    _skip_unless_given(TIMESCALE_ENV, "TimescaleDB server")
    given = os.environ.get(TIMESCALE_ENV)
    if given:
        yield dsn_config(given, os.environ.get(SHARED_SESSION_ENV) == "1")
        return
    server, _ = start_timescale()
    try:
        yield server.config()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def apache_config() -> Iterator[dict[str, Any]]:
    """A TimescaleDB that runs with the Apache-only licence."""
    given = os.environ.get(APACHE_ENV)
    if given:
        yield dsn_config(given)
        return
    if native_version() is None:
        what = "a native TimescaleDB for the Apache-licence server"
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI; scripts/setup installs it")
        pytest.skip(f"{what} is not installed (or set {APACHE_ENV})")
    server = start_native(license="apache")
    try:
        yield server.config()
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def plain_engine(
    postgres_config: dict[str, Any],
) -> AsyncIterator[PgextEngine]:
    """An engine on a database WITHOUT TimescaleDB: the PostGIS server's,
    or, where that one has TimescaleDB too (one database with both, as the
    compose route gives), a scratch database on the same server that is
    dropped at the end."""
    admin = await asyncpg.connect(**postgres_config)
    try:
        installed = await admin.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        )
        name = f"pgext_plain_{os.getpid()}"
        config = dict(postgres_config)
        if installed:
            # template0: a template1 may carry the extension as well.
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            parts = urlsplit(str(config["dsn"]))
            config["dsn"] = urlunsplit(parts._replace(path=f"/{name}"))
        try:
            engine = PgextEngine(config=config)
            await engine.capabilities()
            yield engine
        finally:
            if installed:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def pg_engine(postgres_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine on the PostGIS server, without a pool."""
    engine = PgextEngine(config=postgres_config, extensions=("postgis",))
    _USED["postgres"] = (await engine.capabilities()).describe()
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()


@pytest.fixture(scope="session")
async def ts_engine(timescale_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine on the TimescaleDB server, without a pool."""
    engine = PgextEngine(config=timescale_config, extensions=("timescaledb",))
    _USED["timescale"] = (await engine.capabilities()).describe()
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()


@pytest.fixture(scope="session")
async def apache_engine(
    apache_config: dict[str, Any],
) -> AsyncIterator[PgextEngine]:
    """An engine on the Apache-licence TimescaleDB, without a pool."""
    engine = PgextEngine(config=apache_config, extensions=("timescaledb",))
    _USED["apache"] = (await engine.capabilities()).describe()
    yield engine


# -- Citus: a single-node cluster (the coordinator holds the shards) for most
# tests, a coordinator with two workers for the cross-node ones.
# ``PGEXT_CITUS_DSN`` names a running coordinator instead.

CITUS_ENV = "PGEXT_CITUS_DSN"


def _need_citus() -> None:
    if os.environ.get(CITUS_ENV) == OFF:
        if os.environ.get("CI"):
            pytest.fail(f"{CITUS_ENV}=off is not allowed in CI")
        pytest.skip(f"Citus not given ({CITUS_ENV}=off)")
    if not os.environ.get(CITUS_ENV) and citus_version() is None:
        what = "Citus (scripts/setup installs it from ../shared/citus)"
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def citus_config() -> Iterator[dict[str, Any]]:
    _need_citus()
    given = os.environ.get(CITUS_ENV)
    if given:
        yield dsn_config(given)
        return
    with CitusCluster(workers=0) as cluster:
        yield cluster.config()


@pytest.fixture(scope="session")
async def citus(citus_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine on the single-node Citus coordinator."""
    engine = PgextEngine(config=citus_config, extensions=("postgis",))
    _USED["citus"] = (await engine.capabilities()).describe()
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()


@pytest.fixture(scope="session")
def citus3_config() -> Iterator[dict[str, Any]]:
    """A coordinator and two workers, all on this machine."""
    _need_citus()
    with CitusCluster(workers=2) as cluster:
        yield cluster.config()


@pytest.fixture(scope="session")
async def citus3(citus3_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    engine = PgextEngine(config=citus3_config, extensions=("postgis",))
    await engine.capabilities()
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()
