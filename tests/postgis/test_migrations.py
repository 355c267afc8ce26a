"""Auto migrations through the real ``piccolo`` CLI: create, no-op, and
srid / dimension / subtype changes that really alter the database, both ways."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest

from pgext.postgis.migrations import (
    ColumnType,
    SpatialMigrationError,
    add_geography_index,
    create_postgis,
    drop_geography_index,
    target_type,
    using_expression,
)

pytestmark = pytest.mark.postgres

APP = "pgx_io_geo"
TABLE = "pgx_io_mig_place"
REPO = Path(__file__).resolve().parents[2]
PICCOLO = Path(sys.executable).with_name("piccolo")

TABLES = """
from piccolo.columns import Varchar
from piccolo.table import Table

from pgext.postgis import Geography, Geometry


class MigPlace(Table, tablename="{table}"):
    name = Varchar()
    location = {column}
"""


def write_tables(
    root: Path, args: str, table: str = TABLE, kind: str = "Geometry"
) -> None:
    (root / APP / "tables.py").write_text(
        TABLES.format(table=table, column=f"{kind}({args})")
    )


@pytest.fixture
def project(tmp_path: Path, postgres_dsn: str) -> tuple[Path, dict[str, str]]:
    app = tmp_path / APP
    (app / "piccolo_migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "piccolo_migrations" / "__init__.py").write_text("")
    (app / "piccolo_app.py").write_text(
        textwrap.dedent(
            f"""
            import os
            from piccolo.conf.apps import AppConfig
            from {APP}.tables import MigPlace

            APP_CONFIG = AppConfig(
                app_name="{APP}",
                migrations_folder_path=os.path.join(
                    os.path.dirname(__file__), "piccolo_migrations"
                ),
                table_classes=[MigPlace],
            )
            """
        )
    )
    (tmp_path / "pgx_io_geo_conf.py").write_text(
        textwrap.dedent(
            f"""
            import os
            from piccolo.conf.apps import AppRegistry
            from pgext.engine import PgextEngine

            DB = PgextEngine(
                config={{"dsn": os.environ["PGX_IO_GEO_DSN"]}}, extensions=("postgis",)
            )
            APP_REGISTRY = AppRegistry(apps=["{APP}.piccolo_app"])
            """
        )
    )
    env = dict(os.environ)
    env.update(
        PICCOLO_CONF="pgx_io_geo_conf",
        PGX_IO_GEO_DSN=postgres_dsn,
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]),
    )
    return tmp_path, env


def piccolo(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PICCOLO), "migrations", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    return output


async def column_state(
    dsn: str, table: str = TABLE
) -> tuple[str, list[str], list[str]]:
    connection = await asyncpg.connect(dsn)
    try:
        column_type = await connection.fetchval(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = $1::regclass AND attname = 'location'",
            table,
        )
        values = await connection.fetch(
            f"SELECT ST_AsEWKT(location, 3) AS v FROM {table} ORDER BY id"
        )
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1", table
        )
    finally:
        await connection.close()
    return (
        str(column_type),
        [str(r["v"]) for r in values],
        [str(r["indexdef"]) for r in indexes if "gist" in r["indexdef"]],
    )


async def execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fresh_app(dsn: str, table: str) -> None:
    await execute(dsn, f"DROP TABLE IF EXISTS {table}")
    await execute(
        dsn,
        "CREATE TABLE IF NOT EXISTS migration (id SERIAL PRIMARY KEY, "
        "name VARCHAR(200), app_name VARCHAR(200), "
        "ran_on TIMESTAMP DEFAULT current_timestamp)",
    )
    await execute(dsn, f"DELETE FROM migration WHERE app_name = '{APP}'")


async def default_value(dsn: str, table: str) -> str | None:
    """What the column's DEFAULT produces (inserted, read, rolled back)."""
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            value = await connection.fetchval(
                f"INSERT INTO {table} (name) VALUES ('default') "
                "RETURNING ST_AsEWKT(location::geometry, 3)"
            )
            raise _Rollback(value)
    except _Rollback as rollback:
        return rollback.value
    finally:
        await connection.close()


class _Rollback(Exception):
    def __init__(self, value: str | None) -> None:
        self.value = value


# The matrix: each state is (column declaration, type in the database, the
# stored value of the row inserted in the first state, the default's value,
# the gist index expressions).  Every step changes one or two of base type,
# subtype, SRID and dimension; the first state has a default so each step
# also shows the default surviving (and converted).
MATRIX = [
    (
        'Geography("Point", default="POINT(10 20)")',
        "geography(Point,4326)",
        "SRID=4326;POINT(10 20)",
        "SRID=4326;POINT(10 20)",
        ["(location)"],
    ),
    # The failing case: Geography -> Geometry with a default.
    (
        'Geometry("Point", srid=4326, default="POINT(10 20)")',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        "SRID=4326;POINT(10 20)",
        ["(((location)::geography))", "(location)"],
    ),
    # spatial_index off: both of its indexes go.
    (
        'Geometry("Point", srid=4326, default="POINT(10 20)", spatial_index=False)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        "SRID=4326;POINT(10 20)",
        [],
    ),
    # SRID and spatial_index back on: values transformed, only the plain
    # index (3857 is not lon/lat); the default follows the model.
    (
        'Geometry("Point", srid=3857, default="POINT(1 2)")',
        "geometry(Point,3857)",
        "SRID=3857;POINT(1113194.908 2273030.927)",
        "SRID=3857;POINT(1 2)",
        ["(location)"],
    ),
    # Subtype and dimension together.
    (
        'Geometry("MultiPoint", srid=3857, dimension="XYZ", '
        'default="MULTIPOINT(1 2 3)")',
        "geometry(MultiPointZ,3857)",
        "SRID=3857;MULTIPOINT(1113194.908 2273030.927 0)",
        "SRID=3857;MULTIPOINT(1 2 3)",
        ["(location)"],
    ),
    # Projected geometry straight to geography: base and SRID at once.
    (
        'Geography("Point", default="POINT(10 20)")',
        "geography(Point,4326)",
        "SRID=4326;POINT(10 20)",
        "SRID=4326;POINT(10 20)",
        ["(location)"],
    ),
]


async def assert_state(dsn: str, table: str, state: int) -> None:
    _, column_type, value, default, indexes = MATRIX[state]
    found_type, values, found_indexes = await column_state(dsn, table)
    assert found_type == column_type, state
    assert values == [value], state
    assert sorted(i.split("USING gist ")[-1] for i in found_indexes) == indexes, state
    assert await default_value(dsn, table) == default, state


async def test_migration_matrix_forwards_and_backwards(
    project: tuple[Path, dict[str, str]], postgres_dsn: str
) -> None:
    root, env = project
    table = "pgx_io_mig_matrix"
    await fresh_app(postgres_dsn, table)
    first = MATRIX[0][0]
    (root / APP / "tables.py").write_text(TABLES.format(table=table, column=first))
    piccolo(root, env, "new", APP, "--auto")
    folder = root / APP / "piccolo_migrations"
    (migration,) = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    assert "from pgext.postgis.columns import Geography" in migration.read_text()
    piccolo(root, env, "forwards", APP)
    await execute(
        postgres_dsn,
        f"INSERT INTO {table} (name, location) VALUES ('a', 'SRID=4326;POINT(10 20)')",
    )
    await assert_state(postgres_dsn, table, 0)
    # Write every later migration first, then run them in one go: forwards
    # transforms the row through every state; backwards is checked step by step.
    for declaration, *_ in MATRIX[1:]:
        (root / APP / "tables.py").write_text(
            TABLES.format(table=table, column=declaration)
        )
        piccolo(root, env, "new", APP, "--auto")
    assert "No changes detected" in piccolo(root, env, "new", APP, "--auto")
    piccolo(root, env, "forwards", APP)
    await assert_state(postgres_dsn, table, len(MATRIX) - 1)
    for state in reversed(range(len(MATRIX) - 1)):
        piccolo(root, env, "backwards", APP, "--auto_agree=True")
        await assert_state(postgres_dsn, table, state)
    # Never touched PostGIS's own objects.
    await execute(postgres_dsn, "SELECT count(*) FROM spatial_ref_sys")


async def test_a_refused_change_says_why_and_changes_nothing(
    project: tuple[Path, dict[str, str]], postgres_dsn: str
) -> None:
    root, env = project
    table = "pgx_io_mig_refused"
    await fresh_app(postgres_dsn, table)
    write_tables(root, '"MultiPoint", srid=4326', table)
    piccolo(root, env, "new", APP, "--auto")
    piccolo(root, env, "forwards", APP)
    await execute(
        postgres_dsn,
        f"INSERT INTO {table} (name, location) "
        "VALUES ('two parts', 'SRID=4326;MULTIPOINT(1 2, 3 4)')",
    )
    write_tables(root, '"Point", srid=4326', table)
    piccolo(root, env, "new", APP, "--auto")
    failed = subprocess.run(
        [str(PICCOLO), "migrations", "forwards", APP],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert (
        "changing column 'location' of 'pgx_io_mig_refused' from "
        "geometry(MultiPoint,4326) to geometry(Point,4326) failed" in output
    )
    assert "several parts" in output and "rolled back" in output
    column_type, values, _ = await column_state(postgres_dsn, table)
    assert column_type == "geometry(MultiPoint,4326)"
    assert values == ["SRID=4326;MULTIPOINT(1 2,3 4)"]


def test_using_expressions() -> None:
    geog = ColumnType("geography", "Point", 4326, "XY")
    target = target_type(geog, {"dimension": "XYZ"})
    assert using_expression("g", geog, target) == (
        '(ST_Force3DZ("g"::geometry))::geography(PointZ,4326)'
    )
    unknown = ColumnType("geometry", "LineString", 0, "XYM")
    target = target_type(unknown, {"srid": 4326, "geometry_type": "multilinestring"})
    assert using_expression("g", unknown, target) == (
        '(ST_Multi(ST_SetSRID("g", 4326)))::geometry(MultiLineStringM,4326)'
    )
    multi = ColumnType("geometry", "MultiPoint", 3857, "XY")
    assert "ST_GeometryN" in using_expression(
        "g", multi, target_type(multi, {"geometry_type": "Point"})
    )
    with pytest.raises(ValueError):
        target_type(unknown, {"dimension": "XYQ"})


async def test_create_postgis_raw_step(piccolo_conf: str, postgres_dsn: str) -> None:
    # Idempotent: the extension exists already on the test server.
    await create_postgis()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'"
            )
            == 1
        )
    finally:
        await connection.close()


async def test_geography_index_step_for_tables_made_before_it(
    piccolo_conf: str, postgres_dsn: str
) -> None:
    """A table as pgext created it before the ::geography index existed
    (only the GiST index on the column) gets the index from the raw step;
    the step refuses columns it does not fit before any DDL."""
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS pgx_old_shop; "
            "CREATE TABLE pgx_old_shop (id serial PRIMARY KEY, "
            "location geometry(Point,4326), plane geometry(Point,3857), "
            "area geography(Point,4326)); "
            "CREATE INDEX pgx_old_shop_location ON pgx_old_shop USING gist (location)"
        )

        async def geography_indexes() -> list[str]:
            rows = await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'pgx_old_shop' AND indexdef LIKE '%::geography%'"
            )
            return [f"{r['indexname']}: {r['indexdef']}" for r in rows]

        assert await geography_indexes() == []
        step = add_geography_index("pgx_old_shop", "location")
        await step()
        await step()  # idempotent
        found = await geography_indexes()
        assert len(found) == 1 and found[0].startswith("pgx_old_shop_location_geog:")
        assert "USING gist (((location)::geography))" in found[0]
        await connection.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await connection.fetch(
                "EXPLAIN SELECT id FROM pgx_old_shop WHERE ST_DWithin("
                "location::geography, 'SRID=4326;POINT(1 2)'::geography, 5000)"
            )
        )
        assert "pgx_old_shop_location_geog" in plan
        for column, problem in (
            ("plane", "geometry(Point,3857)"),
            ("area", "geography(Point,4326)"),
            ("nowhere", "no such spatial column"),
        ):
            with pytest.raises(SpatialMigrationError, match=re.escape(problem)):
                await add_geography_index("pgx_old_shop", column)()
        assert len(await geography_indexes()) == 1
        await drop_geography_index("pgx_old_shop", "location")()
        assert await geography_indexes() == []
    finally:
        await connection.execute("DROP TABLE IF EXISTS pgx_old_shop")
        await connection.close()
