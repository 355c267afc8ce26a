"""*How* declarations become SQL, per TimescaleDB version and licence.

Every function here is pure: it takes the plain-data state of a hypertable or
continuous aggregate (see ``HypertableSpec.state`` / ``AggregateSpec.state``)
and the server's :class:`~pgext.capabilities.Capabilities`, and returns
:class:`Statement` objects.  Unit tests call them with constructed
capabilities for old and new TimescaleDB versions.

Version switches (TimescaleDB changelog):

* 2.13: ``create_hypertable(rel, by_range(col, interval))`` and
  ``add_dimension(rel, by_hash(col, n))``; older servers get the old
  signatures.
* 2.18: the columnstore names (``timescaledb.enable_columnstore``,
  ``segmentby``, ``orderby``; ``add_columnstore_policy`` is a procedure, so
  ``CALL``); older servers get the compression names.

Values are bind parameters; names are quoted identifiers.  The few places
PostgreSQL takes no parameters (``ALTER TABLE ... SET``, a view definition, a
``DO`` block) get validated, quoted literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgext.capabilities import Capabilities
from pgext.ddl import drop_primary_key_sql
from pgext.errors import ExtensionNotAvailable, InvalidIdentifier
from pgext.identifiers import quote_ident, quote_literal, quote_qualified
from pgext.timescale.spec import split_order_item

State = Mapping[str, Any]


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a plan.

    :param transactional: False for statements PostgreSQL or TimescaleDB
        refuse inside a transaction block (continuous aggregates, refresh).
    :param requires: a relation that must exist, else the statement is
        skipped (a table a previous migration step already dropped).
    """

    sql: str
    args: tuple[Any, ...] = ()
    transactional: bool = True
    requires: str | None = None
    description: str = ""


def relation(state: State) -> str:
    """The quoted, optionally schema-qualified name of a table or view."""
    name = state.get("table") or state.get("view")
    return quote_qualified(str(name), state.get("schema"))


def _new_api(caps: Capabilities) -> bool:
    return caps.at_least("timescaledb", 2, 13)


def _columnstore_api(caps: Capabilities) -> bool:
    return caps.at_least("timescaledb", 2, 18)


def _order_item(item: str) -> str:
    column, suffix = split_order_item(item)
    return quote_ident(column) + (" " + suffix if suffix else "")


def _order_by(state: State) -> list[str]:
    """The declared ``order_by`` plus the key columns it and ``segment_by``
    leave out.  TimescaleDB warns ("column "id" should be used for
    segmenting or ordering") for every unique-index column missing from
    both: its conflict checks on compressed chunks need them.  With no
    ``order_by`` declared, TimescaleDB's default ``time DESC`` comes first
    so the compression order stays the one it would choose."""
    settings = state["columnstore"]
    items = list(settings["order_by"]) or [f"{state['time_column']} DESC"]
    named = {split_order_item(i)[0] for i in items} | set(settings["segment_by"])
    items += [c for c in state.get("primary_key", ()) if c not in named]
    return items


# -- hypertables ----------------------------------------------------------------------


def create_hypertable(state: State, caps: Capabilities) -> list[Statement]:
    """Widen the primary key, convert the table, add the space dimension."""
    caps.require("timescaledb")
    rel = relation(state)
    if "$pgext$" in rel:
        raise InvalidIdentifier(f"table name {rel!r} cannot be used")
    key = ", ".join(quote_ident(c) for c in state["primary_key"])
    statements = [
        Statement(
            drop_primary_key_sql(rel),
            description=f"drop the primary key of {rel}",
        ),
        Statement(
            f"ALTER TABLE {rel} ADD PRIMARY KEY ({key})",
            description=f"primary key ({key}) on {rel}",
        ),
    ]
    if _new_api(caps):
        statements.append(
            Statement(
                "SELECT create_hypertable($1::text::regclass, "
                "by_range($2::name, $3::text::interval), migrate_data => true)",
                (rel, state["time_column"], state["chunk_interval"]),
                description=f"make {rel} a hypertable",
            )
        )
    else:
        statements.append(
            Statement(
                "SELECT create_hypertable($1::text::regclass, $2::name, "
                "chunk_time_interval => $3::text::interval, migrate_data => true)",
                (rel, state["time_column"], state["chunk_interval"]),
                description=f"make {rel} a hypertable",
            )
        )
    space = state.get("space")
    if space:
        if _new_api(caps):
            sql = "SELECT add_dimension($1::text::regclass, by_hash($2::name, $3::int))"
        else:
            sql = (
                "SELECT add_dimension($1::text::regclass, $2::name, "
                "number_partitions => $3::int)"
            )
        statements.append(
            Statement(
                sql,
                (rel, space["column"], space["partitions"]),
                description=f"hash dimension on {rel}",
            )
        )
    return statements


def set_chunk_interval(state: State, caps: Capabilities) -> list[Statement]:
    caps.require("timescaledb")
    rel = relation(state)
    return [
        Statement(
            "SELECT set_chunk_time_interval($1::text::regclass, $2::text::interval)",
            (rel, state["chunk_interval"]),
            requires=rel,
            description=f"chunk interval of {rel}",
        )
    ]


def enable_columnstore(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("columnstore (compression)")
    rel = relation(state)
    settings = state["columnstore"]
    segment = quote_literal(",".join(quote_ident(c) for c in settings["segment_by"]))
    order = quote_literal(", ".join(_order_item(i) for i in _order_by(state)))
    if _columnstore_api(caps):
        options = [
            "timescaledb.enable_columnstore = true",
            f"timescaledb.segmentby = {segment}",
            f"timescaledb.orderby = {order}",
        ]
    else:
        options = [
            "timescaledb.compress = true",
            f"timescaledb.compress_segmentby = {segment}",
            f"timescaledb.compress_orderby = {order}",
        ]
    return [
        Statement(
            f"ALTER TABLE {rel} SET ({', '.join(options)})",
            requires=rel,
            description=f"columnstore settings of {rel}",
        )
    ]


def disable_columnstore(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("columnstore (compression)")
    rel = relation(state)
    option = (
        "timescaledb.enable_columnstore = false"
        if _columnstore_api(caps)
        else "timescaledb.compress = false"
    )
    return [Statement(f"ALTER TABLE {rel} SET ({option})", requires=rel)]


def add_columnstore_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("columnstore policy")
    rel = relation(state)
    after = state["columnstore"]["after"]
    if _columnstore_api(caps):
        sql = (
            "CALL add_columnstore_policy($1::text::regclass, "
            "after => $2::text::interval)"
        )
    else:
        sql = (
            "SELECT add_compression_policy($1::text::regclass, "
            "compress_after => $2::text::interval)"
        )
    return [
        Statement(
            sql, (rel, after), requires=rel, description=f"columnstore policy on {rel}"
        )
    ]


def remove_columnstore_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("columnstore policy")
    rel = relation(state)
    if _columnstore_api(caps):
        sql = "CALL remove_columnstore_policy($1::text::regclass, if_exists => true)"
    else:
        sql = "SELECT remove_compression_policy($1::text::regclass, if_exists => true)"
    return [Statement(sql, (rel,), requires=rel)]


def add_retention_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("retention policy")
    rel = relation(state)
    return [
        Statement(
            "SELECT add_retention_policy($1::text::regclass, "
            "drop_after => $2::text::interval)",
            (rel, state["retention"]),
            requires=rel,
            description=f"retention policy on {rel}",
        )
    ]


def remove_retention_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("retention policy")
    rel = relation(state)
    return [
        Statement(
            "SELECT remove_retention_policy($1::text::regclass, if_exists => true)",
            (rel,),
            requires=rel,
        )
    ]


# -- continuous aggregates ------------------------------------------------------


def create_aggregate(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("continuous aggregates")
    rel = relation(state)
    materialized_only = "true" if state["materialized_only"] else "false"
    statements = [
        Statement(
            f"CREATE MATERIALIZED VIEW {rel} WITH (timescaledb.continuous, "
            f"timescaledb.materialized_only = {materialized_only}) AS {state['query']} "
            "WITH NO DATA",
            transactional=False,
            description=f"continuous aggregate {rel}",
        )
    ]
    if state.get("refresh"):
        statements += add_refresh_policy(state, caps)
    if state.get("refresh_on_create", True):
        statements += refresh_aggregate(state, caps)
    return statements


def refresh_aggregate(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("continuous aggregates")
    rel = relation(state)
    return [
        Statement(
            "CALL refresh_continuous_aggregate($1::text::regclass, NULL, NULL)",
            (rel,),
            transactional=False,
            description=f"refresh {rel}",
        )
    ]


def drop_aggregate(state: State, caps: Capabilities) -> list[Statement]:
    rel = relation(state)
    return [
        Statement(
            f"DROP MATERIALIZED VIEW IF EXISTS {rel}",
            transactional=False,
            description=f"drop continuous aggregate {rel}",
        )
    ]


def add_refresh_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("continuous aggregate policy")
    rel = relation(state)
    policy = state["refresh"]
    return [
        Statement(
            "SELECT add_continuous_aggregate_policy($1::text::regclass, "
            "start_offset => $2::text::interval, end_offset => $3::text::interval, "
            "schedule_interval => $4::text::interval)",
            (
                rel,
                policy["start_offset"],
                policy["end_offset"],
                policy["schedule_interval"],
            ),
            requires=rel,
            description=f"refresh policy on {rel}",
        )
    ]


def remove_refresh_policy(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("continuous aggregate policy")
    rel = relation(state)
    return [
        Statement(
            "SELECT remove_continuous_aggregate_policy($1::text::regclass, "
            "if_exists => true)",
            (rel,),
            requires=rel,
        )
    ]


def set_materialized_only(state: State, caps: Capabilities) -> list[Statement]:
    caps.require_community("continuous aggregates")
    rel = relation(state)
    value = "true" if state["materialized_only"] else "false"
    return [
        Statement(
            f"ALTER MATERIALIZED VIEW {rel} "
            f"SET (timescaledb.materialized_only = {value})",
            requires=rel,
        )
    ]


# -- new tables: CREATE TABLE ... WITH (tsdb.hypertable) (2.20+) ----------------------


def supports_create_table_with(caps: Capabilities) -> bool:
    return caps.at_least("timescaledb", 2, 20)


def create_table_with(
    state: State, create_table: str, primary_key_ddl: str, caps: Capabilities
) -> list[Statement]:
    """Create a new table directly as a hypertable, from Piccolo's own
    ``CREATE TABLE`` statement (``create_table``) and its primary-key column
    definition: the key moves to a table constraint over (id, time[, space])
    and ``WITH (tsdb.*)`` makes the table a hypertable in the same statement,
    so no key swap and no conversion are needed.

    From 2.23 such a table gets a columnstore policy of its own when
    columnstore settings are given; it is replaced by the declared one.
    Needs 2.20 (:func:`supports_create_table_with`).
    """
    if not supports_create_table_with(caps):
        raise ExtensionNotAvailable(
            "CREATE TABLE ... WITH (tsdb.*) needs TimescaleDB 2.20+"
        )
    plain_key = primary_key_ddl.replace(" PRIMARY KEY", "", 1)
    if primary_key_ddl not in create_table or not create_table.endswith(")"):
        raise InvalidIdentifier("unexpected CREATE TABLE statement from Piccolo")
    key = ", ".join(quote_ident(c) for c in state["primary_key"])
    body = create_table.replace(primary_key_ddl, plain_key, 1)[:-1]
    options = [
        "tsdb.hypertable",
        f"tsdb.partition_column = {quote_literal(state['time_column'])}",
        f"tsdb.chunk_interval = {quote_literal(state['chunk_interval'])}",
    ]
    settings = state.get("columnstore")
    auto_policy = caps.at_least("timescaledb", 2, 23)
    if settings:
        caps.require_community("columnstore (compression)")
        if settings["segment_by"]:
            segment = ",".join(quote_ident(c) for c in settings["segment_by"])
            options.append(f"tsdb.segmentby = {quote_literal(segment)}")
        order = ", ".join(_order_item(i) for i in _order_by(state))
        options.append(f"tsdb.orderby = {quote_literal(order)}")
    elif auto_policy:
        options.append("tsdb.enable_columnstore = false")
    statements = [
        Statement(
            f"{body}, PRIMARY KEY ({key})) WITH ({', '.join(options)})",
            description=f"hypertable {relation(state)}",
        )
    ]
    space = state.get("space")
    if space:
        statements.append(
            Statement(
                "SELECT add_dimension($1::text::regclass, by_hash($2::name, $3::int))",
                (relation(state), space["column"], space["partitions"]),
            )
        )
    if settings:
        if auto_policy:
            statements += remove_columnstore_policy(state, caps)
        if settings.get("after"):
            statements += add_columnstore_policy(state, caps)
    if state.get("retention"):
        statements += add_retention_policy(state, caps)
    return statements
