"""Tenant schemas declared on the models (``@tenant_schema``) carried by the
real ``piccolo migrations`` CLI: forwards distributes the schema after
Piccolo created its tables, backwards makes it local again; each step is
checked in Citus's catalogue (pg_dist_schema, pg_dist_partition)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pgext.engine import PgextEngine

pytestmark = pytest.mark.citus

REPO = Path(__file__).resolve().parents[2]
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

APP_MODULE = """
import os

from piccolo.conf.apps import AppConfig

from ctten.tables import TnCustomer, TnOrder

APP_CONFIG = AppConfig(
    app_name="ctten",
    migrations_folder_path=os.path.join(
        os.path.dirname(__file__), "piccolo_migrations"
    ),
    table_classes=[TnCustomer, TnOrder],
)
"""

CONF = """
import json
import os

from piccolo.conf.apps import AppRegistry

from pgext.engine import PgextEngine

DB = PgextEngine(config=json.loads(os.environ["PGEXT_CTTEN_CONFIG"]))
APP_REGISTRY = AppRegistry(apps=["ctten.piccolo_app"])
"""


def piccolo(root: Path, config: dict[str, Any], *args: str) -> str:
    env = {
        **os.environ,
        "PICCOLO_CONF": "ctten_conf",
        "PGEXT_CTTEN_CONFIG": json.dumps(config),
        "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from piccolo.main import main; main()", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output, output
    return output


async def _clean(engine: PgextEngine) -> None:
    async with engine.connection() as connection:
        await connection.execute(
            "SELECT citus_schema_undistribute(schemaid) FROM pg_dist_schema "
            "WHERE schemaid = to_regnamespace($1::text)",
            SCHEMA,
        )
        await connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        if await connection.fetchval("SELECT to_regclass('migration') IS NOT NULL"):
            await connection.execute("DELETE FROM migration WHERE app_name = $1", APP)


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
    package = tmp_path / APP
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tables.py").write_text(TABLES)
    (package / "piccolo_app.py").write_text(APP_MODULE)
    (tmp_path / "ctten_conf.py").write_text(CONF)
    out = piccolo(tmp_path, citus_config, "migrations", "new", APP, "--auto")
    files = sorted((package / "piccolo_migrations").glob(f"{APP}_*.py"))
    assert len(files) == 2, out
    assert f'"schemas": ["{SCHEMA}"]' in files[1].read_text()

    piccolo(tmp_path, citus_config, "migrations", "forwards", APP)
    tenant, tables = await _catalogue(clean)
    assert tenant
    assert tables == {f"{SCHEMA}.customer", f"{SCHEMA}.purchase"}
    out = piccolo(tmp_path, citus_config, "migrations", "new", APP, "--auto")
    assert "No changes detected" in out
    async with clean.connection() as connection:
        await connection.execute(
            f"INSERT INTO {SCHEMA}.customer (email) VALUES ('a@x'), ('b@x')"
        )

    # Backwards one step: a local schema again, rows kept.
    piccolo(tmp_path, citus_config, "migrations", "backwards", APP, "--auto_agree")
    assert await _catalogue(clean) == (False, set())
    async with clean.connection() as connection:
        assert await connection.fetchval(f"SELECT count(*) FROM {SCHEMA}.customer") == 2

    piccolo(tmp_path, citus_config, "migrations", "forwards", APP)
    assert (await _catalogue(clean))[0]
    piccolo(
        tmp_path,
        citus_config,
        "migrations",
        "backwards",
        APP,
        "--migration_id=all",
        "--auto_agree",
    )
    assert await _catalogue(clean) == (False, set())
    async with clean.connection() as connection:
        assert (
            await connection.fetchval(f"SELECT to_regclass('{SCHEMA}.customer')")
            is None
        )
