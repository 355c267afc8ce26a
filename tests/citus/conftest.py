"""Fixtures of the Citus tests: one single-node cluster (the coordinator
holds the shards) for most tests, a coordinator with two workers for the
cross-node ones.  ``PGEXT_CITUS_DSN`` names a running coordinator instead.

Results are checked against an independent truth: the same query on a plain
table of the PostGIS server (``pg_engine``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pgext.engine import PgextEngine
from pgext.harness.citus import CitusCluster, citus_version
from pgext.harness.servers import OFF, dsn_config

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
    await engine.capabilities()
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
