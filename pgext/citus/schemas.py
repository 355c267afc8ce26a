"""Schema-based sharding: one schema per tenant, each schema a unit Citus
places on one node with all its tables (``citus_schema_distribute``).

Nothing is declared on the models: Piccolo tables with ``schema=`` run
unchanged in a distributed schema (serial keys, UNIQUE, ForeignKey, joins,
``save()``), because every table of the schema lives on the same node.  Use
it for a modest number of large tenants; hash distribution
(:func:`pgext.citus.distributed`) for many small ones.
"""

from __future__ import annotations

from typing import Any

from pgext.citus.apply import require_citus
from pgext.engine_access import connection_of, engine_of
from pgext.identifiers import quote_ident, validate_identifier

_IS_DISTRIBUTED = (
    "SELECT EXISTS (SELECT 1 FROM pg_dist_schema "
    "WHERE schemaid = to_regnamespace($1::text))"
)


async def distribute_schema(schema: str, engine: Any = None) -> bool:
    """Create ``schema`` if needed and make it a distributed (tenant)
    schema; tables already in it move with it.  Returns False when it was
    distributed already."""
    validate_identifier(schema, what="schema")
    engine = engine_of(None, engine)
    await require_citus(engine)
    async with connection_of(engine) as connection:
        if await connection.fetchval(_IS_DISTRIBUTED, schema):
            return False
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await connection.execute(
            "SELECT citus_schema_distribute($1::text::regnamespace)", schema
        )
    return True


async def undistribute_schema(schema: str, engine: Any = None) -> bool:
    """Bring a tenant schema's tables back to the coordinator as local
    tables; returns False when it was not distributed."""
    validate_identifier(schema, what="schema")
    engine = engine_of(None, engine)
    await require_citus(engine)
    async with connection_of(engine) as connection:
        if not await connection.fetchval(_IS_DISTRIBUTED, schema):
            return False
        await connection.execute(
            "SELECT citus_schema_undistribute($1::text::regnamespace)", schema
        )
    return True


async def tenant_schemas(engine: Any = None) -> list[str]:
    """The distributed schemas of the database, by name."""
    engine = engine_of(None, engine)
    async with connection_of(engine) as connection:
        rows = await connection.fetch(
            "SELECT schemaid::regnamespace::text AS name FROM pg_dist_schema ORDER BY 1"
        )
    return [str(row["name"]) for row in rows]
