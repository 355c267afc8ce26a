"""Test servers and engines.

The servers are real: a throwaway PostgreSQL cluster with PostGIS and the
PGlite TimescaleDB, each started on first use and stopped at the end of the
run, unless ``PGEXT_POSTGRES_DSN`` / ``PGEXT_TIMESCALE_DSN`` name running
servers (see ``pgext/harness/servers.py``).  ``off`` skips the tests needing
that server, and the skip says which.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pgext.engine import PgextEngine
from pgext.harness.postgres import LocalPostgres
from pgext.harness.servers import (
    OFF,
    POSTGRES_ENV,
    SHARED_SESSION_ENV,
    TIMESCALE_ENV,
    dsn_config,
)
from pgext.harness.timescale import PgliteTimescale


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
    server = PgliteTimescale().start()
    try:
        yield server.config()
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def pg_engine(postgres_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine on the PostGIS server, without a pool."""
    engine = PgextEngine(config=postgres_config, extensions=("postgis",))
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()


@pytest.fixture(scope="session")
async def ts_engine(timescale_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine on the TimescaleDB server, without a pool."""
    engine = PgextEngine(config=timescale_config, extensions=("timescaledb",))
    yield engine
    if engine.pool is not None:
        await engine.close_connection_pool()
