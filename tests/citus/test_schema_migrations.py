"""Tenant schemas declared on the models (``@tenant_schema``) carried by the
real ``piccolo migrations`` CLI: forwards distributes the schema after
Piccolo created its tables, backwards makes it local again; each step is
checked in Citus's catalogue (pg_dist_schema, pg_dist_partition)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pgext.engine import PgextEngine
from tests.piccolo_cli import PiccoloApp, forget_migrations

pytestmark = pytest.mark.citus

APP = "ctten"
SCHEMA = "ctten_acme"

TABLES = """
from piccolo.columns import ForeignKey, Integer, Varchar
from piccolo.table import Table

from pgext.citus import tenant_schema


@tenant_schema
class TnCustomer(Table, schema="ctten_acme", tablename="customer"):
    email = Varchar(unique=True)


class TnOrder(Table, schema="ctten_acme", tablename="purchase"):
    customer = ForeignKey(TnCustomer)
    total = Integer()
"""


async def _clean(engine: PgextEngine) -> None:
    async with engine.connection() as connection:
        await connection.execute(
            "SELECT citus_schema_undistribute(schemaid) FROM pg_dist_schema "
            "WHERE schemaid = to_regnamespace($1::text)",
            SCHEMA,
        )
        await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await forget_migrations(connection, APP)


@pytest.fixture
async def clean(citus: PgextEngine) -> AsyncIterator[PgextEngine]:
    await _clean(citus)
    yield citus
    await _clean(citus)


async def _catalogue(engine: PgextEngine) -> tuple[bool, set[str]]:
    """Whether the schema is a tenant schema, and which of its tables
    Citus holds."""
    async with engine.connection() as connection:
        tenant = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM citus_schemas "
            "WHERE schema_name::text = $1::text)",
            SCHEMA,
        )
        rows = await connection.fetch(
            "SELECT logicalrelid::text AS t FROM pg_dist_partition "
            "WHERE logicalrelid::text LIKE $1::text",
            f"{SCHEMA}.%",
        )
    return bool(tenant), {row["t"] for row in rows}


async def test_tenant_schema_forwards_and_backwards(
    clean: PgextEngine, citus_config: dict[str, Any], tmp_path: Path
) -> None:
    app = PiccoloApp(tmp_path, APP, TABLES, ["TnCustomer", "TnOrder"], citus_config)
    out = app.run("migrations", "new", APP, "--auto")
    files = app.migrations()
    assert len(files) == 2, out
    assert f'"schemas": ["{SCHEMA}"]' in files[1].read_text()

    app.run("migrations", "forwards", APP)
    tenant, tables = await _catalogue(clean)
    assert tenant
    assert tables == {f"{SCHEMA}.customer", f"{SCHEMA}.purchase"}
    out = app.run("migrations", "new", APP, "--auto")
    assert "No changes detected" in out
    async with clean.connection() as connection:
        await connection.execute(
            f"INSERT INTO {SCHEMA}.customer (email) VALUES ('a@x'), ('b@x')"
        )

    # Backwards one step: a local schema again, rows kept.
    app.run("migrations", "backwards", APP, "--auto_agree")
    assert await _catalogue(clean) == (False, set())
    async with clean.connection() as connection:
        assert await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.customer") == 2

    app.run("migrations", "forwards", APP)
    assert (await _catalogue(clean))[0]
    app.run("migrations", "backwards", APP, "--migration_id=all", "--auto_agree")
    assert await _catalogue(clean) == (False, set())
    async with clean.connection() as connection:
        assert (
            await connection.fetchval(f"SELECT to_regclass('{SCHEMA}.customer')")
            is None
        )
