"""The ``::geography`` expression index through ``piccolo migrations new
--auto``, forwards and backwards: created where a lon/lat geometry column
appears (added to an existing table, changed from a projected SRID, changed
from Geography), dropped where the column stops being lon/lat geometry, and
found again after the column or the table was renamed (its name is then the
old one, as Piccolo's own index's is)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from pgext.postgis.migrations import add_geography_index
from tests.postgis.test_migrations import APP, execute, fresh_app, piccolo, project

pytestmark = pytest.mark.postgres

__all__ = ["project"]  # the fixture, imported for pytest

TABLES = """
from piccolo.columns import Varchar
from piccolo.table import Table

from pgext.postgis import Geography, Geometry


class MigPlace(Table, tablename="{table}"):
    name = Varchar()
{column}
"""

OLD_TABLE = "pgx_io_geog_place"
NEW_TABLE = "pgx_io_geog_site"
GEOG = "(({c})::geography))"

# (table, column name, declaration or None, type in the database, the
# row's value, the indexes other than the primary key's).  Each state is one
# auto migration from the one before.
#
# Piccolo's migration would index an added column with its default method
# (btree) whatever the column's index_method says; pgext's seam makes it use
# the column's own (GiST), beside pgext's ::geography index.
STATES: list[tuple[str, str, str | None, str | None, str | None, list[str]]] = [
    (OLD_TABLE, "location", None, None, None, []),
    # A lon/lat column added to an existing table: both indexes.
    (
        OLD_TABLE,
        "location",
        'Geometry("Point", srid=4326)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (((location)::geography))", "gist (location)"],
    ),
    # Leaving lon/lat: the expression index goes (the ALTER would fail on it).
    (
        OLD_TABLE,
        "location",
        'Geometry("Point", srid=3857)',
        "geometry(Point,3857)",
        "SRID=3857;POINT(1113194.908 2273030.927)",
        ["gist (location)"],
    ),
    # Back to lon/lat from a projected SRID: the expression index comes back.
    (
        OLD_TABLE,
        "location",
        'Geometry("Point", srid=4326)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (((location)::geography))", "gist (location)"],
    ),
    # Renamed column: Postgres renames inside the index expression.
    (
        OLD_TABLE,
        "place",
        'Geometry("Point", srid=4326)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (((place)::geography))", "gist (place)"],
    ),
    # Renamed table.
    (
        NEW_TABLE,
        "place",
        'Geometry("Point", srid=4326)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (((place)::geography))", "gist (place)"],
    ),
    # After both renames, leaving lon/lat still finds the old-named index.
    (
        NEW_TABLE,
        "place",
        'Geometry("Point", srid=3857)',
        "geometry(Point,3857)",
        "SRID=3857;POINT(1113194.908 2273030.927)",
        ["gist (place)"],
    ),
    # Geography is indexed directly.
    (
        NEW_TABLE,
        "place",
        'Geography("Point")',
        "geography(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (place)"],
    ),
    # Geography -> lon/lat Geometry: the expression index again.
    (
        NEW_TABLE,
        "place",
        'Geometry("Point", srid=4326)',
        "geometry(Point,4326)",
        "SRID=4326;POINT(10 20)",
        ["gist (((place)::geography))", "gist (place)"],
    ),
]


def write_state(root: Path, state: int) -> None:
    table, column, declaration, *_ = STATES[state]
    line = f"    {column} = {declaration}" if declaration else ""
    (root / APP / "tables.py").write_text(TABLES.format(table=table, column=line))


async def read_state(dsn: str, state: int) -> tuple[str | None, list[str], list[str]]:
    table, column, *_ = STATES[state]
    connection = await asyncpg.connect(dsn)
    try:
        column_type = await connection.fetchval(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped",
            table,
            column,
        )
        values = (
            await connection.fetch(
                f'SELECT ST_AsEWKT("{column}"::geometry, 3) AS v FROM {table}'
            )
            if column_type
            else []
        )
        indexes = await connection.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1 "
            "AND indexdef NOT LIKE '%(id)'",
            table,
        )
    finally:
        await connection.close()
    return (
        column_type,
        [str(r["v"]) for r in values],
        sorted(str(r["indexdef"]).split(" USING ")[-1] for r in indexes),
    )


async def assert_state(dsn: str, state: int) -> None:
    *_, column_type, value, indexes = STATES[state]
    found_type, values, found_indexes = await read_state(dsn, state)
    assert found_type == column_type, state
    assert values == ([value] if value else []), state
    assert found_indexes == indexes, state


async def test_geography_index_follows_every_change(
    project: tuple[Path, dict[str, str]], postgres_dsn: str
) -> None:
    root, env = project
    await execute(postgres_dsn, f"DROP TABLE IF EXISTS {NEW_TABLE}")
    await fresh_app(postgres_dsn, OLD_TABLE)
    write_state(root, 0)
    piccolo(root, env, "new", APP, "--auto")
    piccolo(root, env, "forwards", APP)
    await execute(postgres_dsn, f"INSERT INTO {OLD_TABLE} (name) VALUES ('a')")
    await assert_state(postgres_dsn, 0)
    write_state(root, 1)
    piccolo(root, env, "new", APP, "--auto")
    piccolo(root, env, "forwards", APP)
    await execute(
        postgres_dsn, f"UPDATE {OLD_TABLE} SET location = 'SRID=4326;POINT(10 20)'"
    )
    await assert_state(postgres_dsn, 1)
    # Every later state as its own migration, run one by one forwards (each
    # state checked), then back one by one.
    for state in range(2, len(STATES)):
        write_state(root, state)
        piccolo(root, env, "new", APP, "--auto", "--auto_input=y")
        piccolo(root, env, "forwards", APP)
        await assert_state(postgres_dsn, state)
    assert "No changes detected" in piccolo(root, env, "new", APP, "--auto")
    for state in reversed(range(len(STATES) - 1)):
        piccolo(root, env, "backwards", APP, "--auto_agree=True")
        await assert_state(postgres_dsn, state)


async def test_geography_index_step_after_a_rename(
    piccolo_conf: str, postgres_dsn: str
) -> None:
    """The raw step finds an index kept under an old name and adds none."""
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS pgx_renamed_shop; "
            "CREATE TABLE pgx_renamed_shop (id serial PRIMARY KEY, "
            "spot geometry(Point,4326)); "
            "CREATE INDEX pgx_renamed_shop_spot_geog ON pgx_renamed_shop "
            "USING gist ((spot::geography)); "
            'ALTER TABLE pgx_renamed_shop RENAME COLUMN spot TO "Spot Here"'
        )
        await add_geography_index("pgx_renamed_shop", "Spot Here")()
        names = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'pgx_renamed_shop' AND indexdef LIKE '%::geography%'"
        )
        assert [r["indexname"] for r in names] == ["pgx_renamed_shop_spot_geog"]
        assert '(("Spot Here")::geography)' in names[0]["indexdef"]
    finally:
        await connection.execute("DROP TABLE IF EXISTS pgx_renamed_shop")
        await connection.close()
