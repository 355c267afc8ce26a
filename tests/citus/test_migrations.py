"""Distribution carried by Piccolo's migrations: the real ``piccolo
migrations`` CLI in subprocesses against the single-node Citus cluster,
forwards and backwards; and existing rows kept when a table is distributed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from piccolo.columns import Integer, Varchar
from piccolo.table import Table

from pgext import citus as pgcitus
from pgext.engine import PgextEngine
from tests.helpers import recreate_tables
from tests.piccolo_cli import PiccoloApp, forget_migrations

pytestmark = pytest.mark.citus

APP = "ctmig"

TABLES = """
from piccolo.columns import ForeignKey, Integer, Varchar
from piccolo.table import Table

from pgext.citus import distributed, reference


@reference
class CmCountry(Table):
    name = Varchar()


@distributed("tenant")
class CmShop(Table):
    tenant = Integer(null=False)
    name = Varchar()
    country = ForeignKey(CmCountry)


@distributed("tenant", colocate_with=CmShop)
class CmSale(Table):
    tenant = Integer(null=False)
    amount = Integer()
"""


async def _clean(engine: PgextEngine) -> None:
    async with engine.connection() as connection:
        for table in ("cm_sale", "cm_shop", "cm_country"):
            await connection.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        await forget_migrations(connection, APP)


@pytest.fixture
async def clean(citus: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _clean(citus)
    yield citus
    await _clean(citus)


async def _server_state(engine: PgextEngine) -> dict[str, Any]:
    async with engine.connection() as connection:
        kinds = await connection.fetch(
            "SELECT logicalrelid::text AS t, partmethod::text AS m, colocationid "
            "FROM pg_dist_partition WHERE logicalrelid::text LIKE 'cm_%'"
        )
        keys = await connection.fetch(
            "SELECT conrelid::regclass::text AS t, contype::text AS c, "
            "pg_get_constraintdef(oid) AS d FROM pg_constraint "
            "WHERE conrelid::regclass::text LIKE 'cm_%' AND contype IN ('p', 'f')"
        )
    return {
        "kinds": {r["t"]: r["m"] for r in kinds},
        "colocated": len({r["colocationid"] for r in kinds if r["m"] == "h"}) == 1,
        "keys": sorted((r["t"], r["d"]) for r in keys),
    }


async def test_auto_migrations_forwards_and_backwards(
    clean: PgextEngine, citus_config: dict[str, Any], tmp_path: Path
) -> None:
    tables = ["CmCountry", "CmShop", "CmSale"]
    app = PiccoloApp(tmp_path, APP, TABLES, tables, citus_config)
    out = app.run("migrations", "new", APP, "--auto")
    files = app.migrations()
    assert len(files) == 2, out
    assert "PGEXT_CITUS_STATE" in files[1].read_text()

    app.run("migrations", "forwards", APP)
    state = await _server_state(clean)
    assert state["kinds"] == {"cm_country": "n", "cm_shop": "h", "cm_sale": "h"}
    assert state["colocated"]
    assert ("cm_shop", "PRIMARY KEY (tenant, id)") in state["keys"]
    assert (
        "cm_shop",
        "FOREIGN KEY (country) REFERENCES cm_country(id) ON UPDATE CASCADE "
        "ON DELETE CASCADE",
    ) in state["keys"]
    out = app.run("migrations", "new", APP, "--auto")
    assert "No changes detected" in out

    async with clean.connection() as connection:
        await connection.execute("INSERT INTO cm_country (name) VALUES ('NL')")
        await connection.execute(
            "INSERT INTO cm_shop (tenant, name, country) "
            "SELECT g, 's' || g, 1 FROM generate_series(1, 20) g"
        )

    # Backwards one step: local tables again, with their one-column keys,
    # foreign keys and rows.
    app.run("migrations", "backwards", APP, "--auto_agree")
    state = await _server_state(clean)
    assert state["kinds"] == {}
    assert ("cm_shop", "PRIMARY KEY (id)") in state["keys"]
    assert any(t == "cm_shop" and d.startswith("FOREIGN KEY") for t, d in state["keys"])
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT count(*) FROM cm_shop") == 20

    # Forwards again: the existing rows are distributed, not lost.
    app.run("migrations", "forwards", APP)
    state = await _server_state(clean)
    assert state["kinds"]["cm_shop"] == "h"
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT count(*) FROM cm_shop") == 20
    app.run("migrations", "backwards", APP, "--migration_id=all", "--auto_agree")
    async with clean.connection() as connection:
        assert await connection.fetchval("SELECT to_regclass('cm_shop')") is None


class CtExisting(Table):
    tenant = Integer(null=False)
    name = Varchar()


async def test_existing_rows_are_distributed_and_dropped_locally(
    citus: PgextEngine,
) -> None:
    table = pgcitus.distributed("tenant")(CtExisting)
    await recreate_tables(citus, table)
    await table.insert(*[table(tenant=i % 5, name=str(i)) for i in range(50)])
    await pgcitus.setup(table, engine=citus)
    assert await table.count() == 50
    # Citus reads the shards; the coordinator's shell table kept no copy.
    rows = await citus.execute_in_new_connection(
        "SELECT pg_relation_size('ct_existing'::regclass) AS size"
    )
    assert rows[0]["size"] == 0
    await pgcitus.teardown(table, engine=citus)
    assert await table.count() == 50
    assert not await pgcitus.is_citus_table(table)
