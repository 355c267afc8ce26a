"""Fixtures of the pub/sub tests: the schema, a pooled engine, hubs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import BaseModel

from pgext.engine import PgextEngine
from pgext.pubsub import Hub, install_schema

from .proxy import StallingProxy


class Note(BaseModel):
    n: int
    text: str = ""


@pytest.fixture(scope="session")
async def ps_engine(postgres_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    """An engine with a small pool and the pub/sub schema installed."""
    engine = PgextEngine(config=postgres_config)
    await engine.start_connection_pool(min_size=1, max_size=6)
    await install_schema(engine)
    yield engine
    await engine.close_connection_pool()


@pytest.fixture
async def hub(ps_engine: PgextEngine) -> AsyncIterator[Hub]:
    """A hub with fast liveness checks and reconnects, so faults are found
    and repaired within the tests' time budget."""
    async with Hub(
        ps_engine,
        check_interval=0.5,
        reconnect_delay=(0.02, 0.2),
        poll_interval=0.5,
    ) as hub:
        yield hub


@pytest.fixture
async def proxy(postgres_config: dict[str, Any]) -> AsyncIterator[StallingProxy]:
    target = urlsplit(postgres_config["dsn"])
    assert target.hostname and target.port
    server = await StallingProxy(target.hostname, target.port).start()
    yield server
    await server.close()


def proxied_config(postgres_config: dict[str, Any], port: int) -> dict[str, Any]:
    parts = urlsplit(postgres_config["dsn"])
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return {**postgres_config, "dsn": urlunsplit(parts._replace(netloc=netloc))}
