"""bench/ runs a real suite and writes its JSON and Markdown results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import BenchContext, run_suites
from bench.runner import write_results
from pgext.harness.servers import ServerSet


@pytest.mark.postgres
async def test_core_suite_writes_its_table(
    postgres_config: dict[str, object], tmp_path: Path
) -> None:
    servers = ServerSet(postgres_config=dict(postgres_config))
    results = await run_suites(BenchContext(servers, quick=True), ["core"])
    json_path, md_path = write_results(results, tmp_path)
    data = json.loads(json_path.read_text())
    assert data[0]["baseline"] == "raw asyncpg"
    names = set(data[0]["medians"])
    assert names == {
        "raw asyncpg",
        "piccolo PostgresEngine",
        "pgext PgextEngine",
        "pgext PgextEngine before #13",
    }
    assert all(value > 0 for value in data[0]["medians"].values())
    assert all(value > 0 for value in data[0]["cpu_medians"].values())
    assert len(data[0]["load_before"]) == 3
    table = md_path.read_text()
    assert "| pgext PgextEngine |" in table and "vs raw asyncpg" in table
    assert "client CPU s" in table and "Load average" in table
