"""Small helpers shared by the tests."""

from __future__ import annotations

from piccolo.table import Table

from pgext import seam
from pgext.engine import PgextEngine


async def recreate_tables(engine: PgextEngine, *tables: type[Table]) -> None:
    """Bind ``tables`` to ``engine``, then drop and create them afresh."""
    for table in tables:
        seam.bind_engine(table, engine)
    for table in reversed(tables):
        await table.alter().drop_table(if_exists=True, cascade=True)
    for table in tables:
        await table.create_table()


async def drop_tables(*tables: type[Table]) -> None:
    for table in reversed(tables):
        await table.alter().drop_table(if_exists=True, cascade=True)
