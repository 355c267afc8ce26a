"""The GeoJSON benchmark runs (quick size) and its implementations agree."""

from __future__ import annotations

import pytest

from bench.run import BenchContext, run_suites
from pgext.harness.servers import ServerSet


@pytest.mark.postgres
async def test_geojson_benchmark_quick_run(postgres_config: dict[str, object]) -> None:
    servers = ServerSet(postgres_config=dict(postgres_config))
    # run() first checks that all implementations give the same
    # collection, raising otherwise.
    [result] = await run_suites(BenchContext(servers, quick=True), ["postgis_geojson"])
    assert result.baseline == "raw asyncpg, same SQL"
    assert {t.name for t in result.timings} == {
        "raw asyncpg, same SQL",
        "pgext feature_collection (SQL)",
        "raw asyncpg, json_build_object + json_agg SQL",
        "python: select + shapely mapping + json.dumps",
        "python: select + vectorised shapely.to_geojson",
    }
    assert all(t.median > 0 for t in result.timings)
