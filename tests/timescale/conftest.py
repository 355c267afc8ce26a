"""Fixtures of the TimescaleDB tests."""

from __future__ import annotations

import pytest

from pgext import seam
from pgext.engine import PgextEngine
from tests.timescale.models import TsReading, TsReadingDaily, TsReadingHourly

MODELS = (TsReading, TsReadingHourly, TsReadingDaily)


@pytest.fixture(scope="session")
async def ts(ts_engine: PgextEngine) -> PgextEngine:
    """The TimescaleDB engine, with the shared test models bound to it."""
    for table in MODELS:
        seam.bind_engine(table, ts_engine)
    await ts_engine.capabilities(refresh=True)
    return ts_engine
