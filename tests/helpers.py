"""Small helpers shared by the tests."""

from __future__ import annotations

from piccolo.apps.user.tables import BaseUser
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


async def replace_admin_user(username: str, password: str) -> None:
    """A fresh active admin ``username`` in Piccolo's user table (bound and
    created already), whatever a previous run left under that name."""
    await BaseUser.delete().where(BaseUser.username == username)
    await BaseUser.create_user(
        username=username,
        password=password,
        email=f"{username}@example.com",
        admin=True,
        active=True,
    )
