"""PgextEngine costs no round trip over Piccolo's PostgresEngine (issue 13).

The truth is the server's own log (``log_statement=all`` on a throwaway
cluster of this test's own): a trivial select, insert and update through
each engine's pool must reach the server as the same statements, in the same
number -- no SET or type look-up on acquire, no un-cached prepare.  Also the
shortcut that spares small results the column hooks must still decode a
geometry wherever it sits in such a result.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from piccolo.columns import Integer, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

import pgext.postgis  # noqa: F401  (codecs and column hook registered, as users run it)
from pgext import seam
from pgext.engine import SMALL_RESULT_ROWS, PgextEngine
from pgext.harness.postgres import LocalPostgres

pytestmark = pytest.mark.postgres

QUERIES = 5


class StatementProbe(Table):
    name = Varchar(length=20)
    value = Integer()


@pytest.fixture(scope="module")
def logging_server() -> Iterator[LocalPostgres]:
    server = LocalPostgres(
        settings={"log_statement": "all", "log_line_prefix": "[%p] "}
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _statements(log: str) -> Counter[str]:
    """Logged statements with asyncpg's statement names taken out."""
    found = re.findall(r"LOG:\s+(?:statement|execute [^:]+):\s+(.*)", log)
    return Counter(re.sub(r"\s+", " ", text).strip() for text in found)


async def _run_queries(engine: PostgresEngine) -> None:
    seam.bind_engine(StatementProbe, engine)
    for _ in range(QUERIES):
        await StatementProbe.select(StatementProbe.name).where(StatementProbe.id == 1)
        await StatementProbe.insert(StatementProbe(name="x", value=1))
        await StatementProbe.update(
            {StatementProbe.value: StatementProbe.value + 1}
        ).where(StatementProbe.id == 1)


async def test_same_statements_as_piccolo_per_query(
    logging_server: LocalPostgres,
) -> None:
    config = logging_server.config()
    plain = PostgresEngine(config=config)
    pgext = PgextEngine(config=config, extensions=("postgis",))
    await plain.start_connection_pool(min_size=1, max_size=1)
    await pgext.start_connection_pool(min_size=1, max_size=1)
    await pgext.capabilities()
    try:
        seam.bind_engine(StatementProbe, pgext)
        await StatementProbe.alter().drop_table(if_exists=True)
        await StatementProbe.create_table()
        await StatementProbe.insert(StatementProbe(name="seed", value=0))
        assert logging_server.datadir is not None
        log_file = logging_server.datadir.parent / "server.log"
        seen: dict[str, Counter[str]] = {}
        for name, engine in (("piccolo", plain), ("pgext", pgext)):
            await _run_queries(engine)  # warm: statements prepared once
            start = log_file.stat().st_size
            await _run_queries(engine)
            await asyncio.sleep(0.2)  # the logging collector has no flush call
            with log_file.open() as handle:
                handle.seek(start)
                seen[name] = _statements(handle.read())
        assert seen["pgext"] == seen["piccolo"]
        # And the count is what it should be: one execute per query, plus
        # asyncpg's reset when the pool gets the connection back.
        assert sum(seen["pgext"].values()) == 3 * QUERIES * 2
    finally:
        seam.bind_engine(StatementProbe, pgext)
        await StatementProbe.alter().drop_table(if_exists=True)
        await plain.close_connection_pool()
        await pgext.close_connection_pool()


@pytest.mark.parametrize("rows", [1, 3, SMALL_RESULT_ROWS, SMALL_RESULT_ROWS + 1])
async def test_small_results_still_decode_geometry(
    pg_engine: PgextEngine, rows: int
) -> None:
    """Every row NULL but the last: the type scan must look at all rows."""
    async with pg_engine.connection() as connection:
        records = await connection.fetch(
            "SELECT g AS n, 'x' AS t, CASE WHEN g = $1 "
            "THEN ST_SetSRID(ST_MakePoint(g, 1), 4326) END AS location "
            "FROM generate_series(1, $1) AS g",
            rows,
        )
    result: list[dict[str, Any]] = pg_engine.transform_response_to_dicts(records)
    assert [row["n"] for row in result] == list(range(1, rows + 1))
    assert all(row["location"] is None for row in result[:-1])
    last = result[-1]["location"]
    assert isinstance(last, shapely.Point) and (last.x, last.y) == (rows, 1)
    assert shapely.get_srid(last) == 4326
    # Without geometry the rows are what Piccolo's own dict(record) gives.
    async with pg_engine.connection() as connection:
        plain = await connection.fetch(
            "SELECT g AS n, 'x' AS t FROM generate_series(1, $1) AS g", rows
        )
    assert pg_engine.transform_response_to_dicts(plain) == [dict(r) for r in plain]
