"""Each private Piccolo place the seam touches still holds against the
installed Piccolo, and each hook fires where it should and nowhere else.

The SQL ones run against the harness's PostGIS server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Integer, Varchar
from piccolo.engine.postgres import PostgresEngine
from piccolo.query.base import Query
from piccolo.query.methods.create_index import CreateIndex
from piccolo.query.methods.insert import Insert
from piccolo.query.methods.select import Select
from piccolo.querystring import QueryString
from piccolo.table import Table
from shapely import Point

import pgext.postgis  # noqa: F401  (installs its hooks, as users get them)
from pgext import errors, seam
from pgext.engine import PgextEngine
from pgext.postgis import Geography, Geometry
from pgext.seam import _patching, selects, writes
from tests.helpers import recreate_tables

ROOT = Path(__file__).resolve().parent.parent


class SeamPlain(Table):
    name = Varchar(length=20)
    value = Integer()


class SeamAirport(Table):
    code = Varchar(length=3)
    geog = Geography("Point")


class SeamShop(Table):
    name = Varchar(length=20)
    location = Geometry("Point", srid=4326)


# -- the package -------------------------------------------------------------------


def test_every_seam_name_used_anywhere_is_exported() -> None:
    """Every ``seam.<name>`` that pgext, the tests, the benchmarks or the docs
    write (private names included) resolves on the package."""
    used: set[str] = set()
    for folder in ("pgext", "tests", "bench", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md"}:
                used |= set(re.findall(r"\bseam\.([A-Za-z_]\w*)", path.read_text()))
    assert used, "the scan found no use at all"
    assert sorted(name for name in used if not hasattr(seam, name)) == []
    assert sorted(name for name in seam.__all__ if not hasattr(seam, name)) == []


def test_the_seam_is_a_package_of_small_modules() -> None:
    folder = ROOT / "pgext" / "seam"
    assert not folder.with_suffix(".py").exists()
    modules = sorted(folder.glob("*.py"))
    assert {p.stem for p in modules} >= {"__init__", "tables", "selects", "writes"}
    for path in modules:
        lines = len(path.read_text().splitlines())
        assert lines < 450, f"{path.name}: {lines} lines"


# -- the private places, as the installed Piccolo has them --------------------------


def test_private_places_exist_in_the_installed_piccolo() -> None:
    import piccolo.apps.migrations.commands.new as new_module
    import piccolo.columns.combination as where_module
    import piccolo.query.mixins as update_module
    import piccolo.table as insert_module

    meta = SeamPlain._meta
    for name in ("tablename", "schema", "columns", "primary_key", "_db"):
        assert hasattr(meta, name), name
    assert isinstance(vars(type(meta))["db"], property)  # reading it finds an engine
    column_meta = SeamPlain.name._meta
    for name in ("db_column_name", "name", "table", "params", "null", "unique"):
        assert hasattr(column_meta, name), name
    for name in ("secret", "primary_key", "call_chain", "get_full_name"):
        assert hasattr(column_meta, name), name
    assert callable(SeamPlain._table_str)
    # The wrapped properties and methods, each wrapped exactly once.
    assert isinstance(vars(Insert)["default_querystrings"], property)
    assert _patching.is_wrapped(vars(Insert)["default_querystrings"].fget)
    assert _patching.is_wrapped(vars(CreateIndex)["postgres_ddl"].fget)
    assert _patching.is_wrapped(MigrationManager._run_alter_columns)
    for module in (insert_module, update_module, where_module):
        wrapper = module.convert_to_sql_value
        assert _patching.is_wrapped(wrapper)
        assert not _patching.is_wrapped(wrapper.__pgext_original__)
    assert callable(new_module._generate_migration_meta)
    assert callable(PostgresEngine._run_in_new_connection)
    assert callable(Insert._raw_response_callback)
    # Piccolo asks for postgres_querystrings first: the select rewrite's door.
    assert "postgres_querystrings" in vars(Query)
    assert "postgres_querystrings" in vars(Select)
    for name in ("order_by_delegate", "limit_delegate", "where_delegate"):
        assert name in Select.__slots__


# -- selects -------------------------------------------------------------------------


@pytest.fixture
def rewrites() -> Iterator[None]:
    """Registered rewrites as they were, afterwards."""
    kept = (list(selects._SELECT_REWRITES), selects._ORDERED_BY)
    yield
    selects._SELECT_REWRITES[:] = kept[0]
    selects._ORDERED_BY = kept[1]
    selects._WANTED.clear()


@pytest.fixture
async def airports(pg_engine: PgextEngine) -> None:
    await recreate_tables(pg_engine, SeamAirport, SeamPlain)
    await SeamAirport.insert(
        SeamAirport(code="LHR", geog=Point(-0.4543, 51.47)),
        SeamAirport(code="CDG", geog=Point(2.55, 49.0097)),
        SeamAirport(code="JFK", geog=Point(-73.7781, 40.6413)),
    )
    await SeamPlain.insert(SeamPlain(name="a", value=1), SeamPlain(name="b", value=2))


async def test_a_knn_select_is_rewritten(airports: None) -> None:
    query = (
        SeamAirport.select(SeamAirport.code)
        .order_by(SeamAirport.geog.knn(Point(2.35, 48.85)))
        .limit(2)
    )
    sent = str(query)
    unrewritten = str(seam.select_querystring(query))
    assert sent != unrewritten
    assert "pgext_knn_d" in sent and "pgext_knn_d" not in unrewritten
    assert [row["code"] for row in await query] == ["CDG", "LHR"]


async def test_a_select_without_knn_is_not_touched(
    airports: None, rewrites: None
) -> None:
    class Marker(QueryString):
        pass

    seen: list[Any] = []
    seam.install_select_rewrite(lambda select: seen.append(select), ordered_by=Marker)
    plain = SeamPlain.select(SeamPlain.name).order_by(SeamPlain.value).limit(5)
    assert str(plain) == str(seam.select_querystring(plain))
    assert [row["name"] for row in await plain] == ["a", "b"]
    assert await SeamPlain.select(SeamPlain.name).where(SeamPlain.value == 2) == [
        {"name": "b"}
    ]
    assert await SeamPlain.objects().first() is not None
    assert seen == []
    marked = SeamPlain.select(SeamPlain.name).order_by(Marker('"value"'))
    assert [row["name"] for row in await marked] == ["a", "b"]
    assert seen and seen[-1] is marked


async def test_a_rewrite_hook_can_replace_the_select(
    airports: None, rewrites: None
) -> None:
    class OnlyB(QueryString):
        pass

    def keep_b(select: Any) -> Any:
        return seam.derived_select(select, where=SeamPlain.name == "b")

    seam.install_select_rewrite(keep_b, ordered_by=OnlyB)
    rows = await SeamPlain.select(SeamPlain.name).order_by(OnlyB('"name"'))
    assert rows == [{"name": "b"}]
    assert len(await SeamPlain.select(SeamPlain.name)) == 2


# -- writes --------------------------------------------------------------------------


@pytest.fixture
def insert_hooks() -> Iterator[None]:
    kept = (list(writes._INSERT_HOOKS), dict(writes._MIN_ROWS), writes._fewest_rows)
    yield
    writes._INSERT_HOOKS[:] = kept[0]
    writes._MIN_ROWS.clear()
    writes._MIN_ROWS.update(kept[1])
    writes._fewest_rows = kept[2]


async def test_an_insert_hook_sees_the_rows(
    pg_engine: PgextEngine, insert_hooks: None
) -> None:
    await recreate_tables(pg_engine, SeamPlain)
    seen: list[tuple[type[Table], list[str]]] = []
    undone: list[int] = []

    def hook(table: type[Table], rows: Any) -> Any:
        seen.append((table, [row.name for row in rows]))
        return lambda: undone.append(len(rows))

    seam.install_insert_hook(hook, min_rows=2)
    await SeamPlain.insert(SeamPlain(name="one", value=1))
    assert seen == []  # fewer rows than the hook asked for
    await SeamPlain.insert(*(SeamPlain(name=f"r{i}", value=i) for i in range(3)))
    assert seen == [(SeamPlain, ["r0", "r1", "r2"])]
    assert undone == [3]
    assert await SeamPlain.count() == 4


# -- index DDL -----------------------------------------------------------------------


async def test_the_create_index_hook_adds_ddl(pg_engine: PgextEngine) -> None:
    ddl = CreateIndex(SeamShop, columns=[SeamShop.location]).postgres_ddl
    assert len(ddl) == 2 and "geography" in ddl[1]
    await recreate_tables(pg_engine, SeamShop)
    definitions = [
        row["indexdef"]
        for row in await pg_engine.execute_in_new_connection(
            "SELECT indexdef FROM pg_indexes WHERE tablename = $1",
            seam.table_name(SeamShop),
        )
    ]
    assert any("geography" in definition for definition in definitions)
    plain = CreateIndex(SeamPlain, columns=[SeamPlain.value]).postgres_ddl
    assert len(plain) == 1


# -- the engine's query path ---------------------------------------------------------


@pytest.fixture
def translators() -> Iterator[None]:
    kept = list(errors._TRANSLATORS)
    errors._TRANSLATORS.clear()
    yield
    errors._TRANSLATORS[:] = kept


async def test_queries_run_in_piccolos_own_coroutine(
    pg_engine: PgextEngine, translators: None
) -> None:
    assert not errors.error_translators_registered()
    running = pg_engine.run_querystring(QueryString("SELECT 1 AS one"))
    assert running.cr_code is PostgresEngine.run_querystring.__code__
    rows = await running
    assert [dict(row) for row in rows] == [{"one": 1}]


async def test_registered_translators_see_query_errors(
    pg_engine: PgextEngine, translators: None
) -> None:
    class Renamed(Exception):
        pass

    def rename(error: BaseException) -> BaseException | None:
        if isinstance(error, asyncpg.UndefinedTableError):
            return Renamed(str(error))
        return None

    with pytest.raises(asyncpg.UndefinedTableError):
        await pg_engine.run_querystring(QueryString("SELECT * FROM seam_nowhere"))
    errors.add_error_translator(rename)
    assert errors.error_translators_registered()
    with pytest.raises(Renamed) as raised:
        await pg_engine.run_querystring(QueryString("SELECT * FROM seam_nowhere"))
    assert isinstance(raised.value.__cause__, asyncpg.UndefinedTableError)
    with pytest.raises(asyncpg.DivisionByZeroError):  # not translated: unchanged
        await pg_engine.run_querystring(QueryString("SELECT 1 / 0"))
