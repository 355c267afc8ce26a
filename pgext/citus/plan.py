"""From one declared Citus state to another: the ordered SQL statements.

A state is plain data (what migrations store)::

    {"tables": {"schema.table" or "table": table_state},
     "schemas": ["tenant schema", ...]}

Tenant schemas (:func:`pgext.citus.tenant_schema`) are undistributed first
and distributed last, after the tables they hold exist; a state written
before schemas were declarable has no "schemas" key and reads as none.

Forwards, reference tables come first, then hash-distributed tables, each
after the table it is co-located with.  Backwards is the same function with
the states swapped: tables are made local again in the reverse order.  Every
statement is sent on its own (Citus forwards DDL to the workers and refuses
several statements in one string), names are quoted, values are parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from piccolo.table import Table

from pgext.citus.errors import DistributionDeclarationError
from pgext.citus.partitions import rebuild_sql, time_partitions
from pgext.citus.spec import (
    HASH,
    REFERENCE,
    citus_spec,
    refuse_hypertable,
    refuse_hypertable_joins,
)
from pgext.citus.tenants import tenant_schema_of
from pgext.ddl import drop_primary_key_sql
from pgext.errors import InvalidIdentifier
from pgext.identifiers import (
    quote_ident,
    quote_literal,
    quote_qualified,
    validate_identifier,
)

State = dict[str, Any]


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a plan.

    :param only_if_citus: run only when this relation is a Citus table
        (undistributing what a previous step already made local again).
    :param only_if_local: run only when this relation exists and is not a
        Citus table yet (a re-run of a half-applied migration).
    """

    sql: str
    args: tuple[Any, ...] = ()
    only_if_citus: str | None = None
    only_if_local: str | None = None
    description: str = ""


def empty_state() -> State:
    return {"tables": {}, "schemas": []}


def key_of(state: Mapping[str, Any]) -> str:
    return f"{state['schema']}.{state['table']}" if state["schema"] else state["table"]


def collect_state(tables: Iterable[type[Table]]) -> State:
    """The declared state of ``tables`` (other tables are ignored)."""
    found: dict[str, Any] = {}
    schemas: set[str] = set()
    for table in tables:
        refuse_hypertable_joins(table)
        spec = citus_spec(table)
        tenant = tenant_schema_of(table)
        if tenant is not None:
            if spec is not None:
                raise DistributionDeclarationError(
                    f"{key_of(spec.state())!r} is @distributed/@reference and "
                    "@tenant_schema: a tenant schema holds local tables only"
                )
            schemas.add(tenant)
        if spec is None:
            continue
        # A @hypertable applied above @distributed was not seen by it.
        refuse_hypertable(table)
        state = spec.state()
        partitions = time_partitions(table)
        if partitions is not None:
            state["partitions"] = partitions.state()
            # PostgreSQL wants the partition column in every unique key.
            if partitions.column not in state["primary_key"]:
                state["primary_key"] = [*state["primary_key"], partitions.column]
        found[key_of(state)] = state
    return {"tables": found, "schemas": sorted(schemas)}


def relation(state: Mapping[str, Any]) -> str:
    rel = quote_qualified(str(state["table"]), state.get("schema"))
    if "$pgext$" in rel:
        raise InvalidIdentifier(f"table name {rel!r} cannot be used")
    return rel


def _order(tables: Mapping[str, Any]) -> list[str]:
    """Keys with reference tables first and every table after the one it is
    co-located with."""
    ordered: list[str] = []

    def visit(key: str, path: tuple[str, ...]) -> None:
        if key in ordered or key not in tables:
            return
        if key in path:
            raise DistributionDeclarationError(f"co-location cycle at {key!r}")
        target = tables[key].get("colocate_with")
        if target:
            visit(target, (*path, key))
        ordered.append(key)

    for kind in (REFERENCE, HASH):
        for key in sorted(tables):
            if tables[key]["kind"] == kind:
                visit(key, ())
    return ordered


def _replace_primary_key(
    state: Mapping[str, Any], columns: list[str]
) -> list[Statement]:
    """Drop the table's primary key, whatever its name, then add one on
    ``columns``: two statements (Citus refuses both in one ALTER)."""
    rel = relation(state)
    key = ", ".join(quote_ident(c) for c in columns)
    return [
        Statement(
            drop_primary_key_sql(rel),
            only_if_local=rel,
            description=f"drop the primary key of {rel}",
        ),
        Statement(
            f"ALTER TABLE {rel} ADD PRIMARY KEY ({key})",
            only_if_local=rel,
            description=f"primary key ({key}) on {rel}",
        ),
    ]


def create(state: Mapping[str, Any], tables: Mapping[str, Any]) -> list[Statement]:
    """Distribute one plain table as ``state`` declares."""
    rel = relation(state)
    statements: list[Statement] = []
    if state["kind"] == REFERENCE:
        statements.append(
            Statement(
                "SELECT create_reference_table($1::text::regclass)",
                (rel,),
                only_if_local=rel,
                description=f"make {rel} a reference table",
            )
        )
    else:
        if state.get("partitions"):
            statements.append(
                Statement(
                    rebuild_sql(rel, list(state["primary_key"]), state["partitions"]),
                    only_if_local=rel,
                    description=f"rebuild {rel} partitioned by time",
                )
            )
        elif list(state["primary_key"]) != [state["original_key"]]:
            statements += _replace_primary_key(state, list(state["primary_key"]))
        colocate = state.get("colocate_with")
        target = relation(tables[colocate]) if colocate else "none"
        if state.get("shard_count") and not colocate:
            sql = (
                "SELECT create_distributed_table($1::text::regclass, $2::text, "
                "'hash', colocate_with => $3::text, shard_count => $4::int)"
            )
            args: tuple[Any, ...] = (rel, state["column"], target, state["shard_count"])
        else:
            sql = (
                "SELECT create_distributed_table($1::text::regclass, $2::text, "
                "'hash', colocate_with => $3::text)"
            )
            args = (rel, state["column"], target)
        statements.append(
            Statement(
                sql,
                args,
                only_if_local=rel,
                description=f"distribute {rel} by {state['column']}",
            )
        )
    # Rows that were in the table stay behind in the coordinator's shell
    # table after they were copied into the shards; they would be invisible
    # but take space (and come back on undistribute).
    statements.append(
        Statement(
            "SELECT truncate_local_data_after_distributing_table($1::text::regclass)",
            (rel,),
            only_if_citus=rel,
            description=f"drop the local copy of {rel}'s rows",
        )
    )
    return statements


def drop(state: Mapping[str, Any]) -> list[Statement]:
    """Make one Citus table local again (rows come back to the coordinator)
    and give it back its one-column primary key."""
    rel = relation(state)
    statements = [
        Statement(
            "SELECT undistribute_table($1::text::regclass)",
            (rel,),
            only_if_citus=rel,
            description=f"make {rel} local again",
        )
    ]
    if state.get("partitions"):
        statements.append(
            Statement(
                rebuild_sql(rel, [state["original_key"]], None),
                only_if_local=rel,
                description=f"rebuild {rel} as a plain table",
            )
        )
    elif state["kind"] == HASH and list(state["primary_key"]) != [
        state["original_key"]
    ]:
        statements += _replace_primary_key(state, [state["original_key"]])
    return statements


# Foreign keys of the hash tables being (un)distributed are set aside while
# the tables change kind, then put back.  Otherwise making the referenced
# table a reference table turns the still-local referencing table into a
# "local table added to metadata", which Citus then refuses to distribute
# with an explicit co-location; and a distributed table with a foreign key
# cannot be undistributed alone.  The definitions are kept in a temporary
# table of the migration's transaction, written by the server itself.
_STASH = "pgext_citus_foreign_keys"


def stash_foreign_keys(state: Mapping[str, Any]) -> Statement:
    rel = relation(state)
    return Statement(
        "DO $pgext$ DECLARE fk record; BEGIN "
        f"CREATE TEMP TABLE IF NOT EXISTS {_STASH} "
        "(rel text, name text, def text) ON COMMIT DROP; "
        "FOR fk IN SELECT conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint "
        f"WHERE conrelid = {quote_literal(rel)}::regclass AND contype = 'f' LOOP "
        f"INSERT INTO {_STASH} VALUES ({quote_literal(rel)}, fk.conname, fk.def); "
        "EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', "
        f"{quote_literal(rel)}, fk.conname); "
        "END LOOP; END $pgext$",
        description=f"set aside the foreign keys of {rel}",
    )


def restore_foreign_keys() -> Statement:
    return Statement(
        "DO $pgext$ DECLARE fk record; BEGIN "
        f"IF to_regclass('pg_temp.{_STASH}') IS NULL THEN RETURN; END IF; "
        f"FOR fk IN SELECT * FROM {_STASH} LOOP "
        # One ALTER per EXECUTE: Citus forwards each to the shards.
        "EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I ', fk.rel, fk.name) "
        "|| fk.def; END LOOP; "
        f"DELETE FROM {_STASH}; END $pgext$",
        description="put the foreign keys back",
    )


def distribute_schema(schema: str) -> list[Statement]:
    """Make ``schema`` a tenant schema unless it is one (a re-run)."""
    return [
        Statement(
            f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}",
            description=f"create schema {schema}",
        ),
        Statement(
            "SELECT citus_schema_distribute(n.oid) FROM pg_namespace n "
            "WHERE n.nspname = $1::text AND NOT EXISTS "
            "(SELECT 1 FROM pg_dist_schema d WHERE d.schemaid = n.oid)",
            (schema,),
            description=f"distribute schema {schema}",
        ),
    ]


def undistribute_schema(schema: str) -> Statement:
    """Bring a tenant schema's tables back to the coordinator, if it is one;
    the schema itself stays (Piccolo's own migration drops its tables)."""
    return Statement(
        "SELECT citus_schema_undistribute(schemaid) FROM pg_dist_schema "
        "WHERE schemaid = to_regnamespace($1::text)",
        (schema,),
        description=f"undistribute schema {schema}",
    )


def plan(previous: State, target: State) -> list[Statement]:
    """The statements turning ``previous`` into ``target``."""
    old = previous.get("tables", {})
    new = target.get("tables", {})
    old_schemas = list(previous.get("schemas", []))
    new_schemas = list(target.get("schemas", []))
    gone = [k for k in old if k not in new or dict(old[k]) != dict(new[k])]
    came = [k for k in new if k not in old or dict(old[k]) != dict(new[k])]
    statements: list[Statement] = [
        undistribute_schema(schema)
        for schema in sorted(old_schemas, reverse=True)
        if schema not in new_schemas
    ]
    stashed = False
    for key in reversed(_order(old)):
        if key in gone and old[key]["kind"] == HASH:
            statements.append(stash_foreign_keys(old[key]))
            stashed = True
    for key in reversed(_order(old)):
        if key in gone:
            statements += drop(old[key])
    for key in _order(new):
        if key in came and new[key]["kind"] == HASH:
            statements.append(stash_foreign_keys(new[key]))
            stashed = True
    for key in _order(new):
        if key in came:
            statements += create(new[key], new)
    if stashed:
        statements.append(restore_foreign_keys())
    for schema in sorted(new_schemas):
        if schema not in old_schemas:
            validate_identifier(schema, what="schema")
            statements += distribute_schema(schema)
    return statements
