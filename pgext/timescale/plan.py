"""From one declared state to another: the ordered SQL statements.

A state is plain data (what migrations store)::

    {"hypertables": {key: hypertable_state}, "aggregates": {key: aggregate_state}}

:func:`plan` compares two states and returns the statements that turn the
first into the second, in an order that works: aggregates that go away or
change are dropped first (dependents before their sources), hypertables are
created or altered, then aggregates are created in dependency order.  The
backwards direction is the same function with the arguments swapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from piccolo.table import Table

from pgext.capabilities import Capabilities
from pgext.timescale import sql
from pgext.timescale.aggregates import aggregate_spec
from pgext.timescale.errors import HypertableDeclarationError, UnsupportedChange
from pgext.timescale.spec import hypertable_spec
from pgext.timescale.sql import Statement

State = dict[str, Any]

EMPTY: State = {"hypertables": {}, "aggregates": {}}


def _key(state: Mapping[str, Any]) -> str:
    name = state.get("table") or state.get("view")
    return f"{state['schema']}.{name}" if state.get("schema") else str(name)


def collect_state(tables: Iterable[type[Table]]) -> State:
    """The declared state of ``tables`` (hypertables and aggregates; other
    tables are ignored)."""
    hypertables: dict[str, Any] = {}
    aggregates: dict[str, Any] = {}
    for table in tables:
        spec = hypertable_spec(table)
        if spec is not None:
            state = spec.state()
            hypertables[_key(state)] = state
        aggregate = aggregate_spec(table)
        if aggregate is not None:
            state = aggregate.state()
            aggregates[_key(state)] = state
    return {"hypertables": hypertables, "aggregates": aggregates}


def _aggregate_order(aggregates: Mapping[str, Any]) -> list[str]:
    """Keys sorted so every aggregate comes after the ones it reads from."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in ordered:
            return
        if key in visiting:
            raise HypertableDeclarationError(
                f"continuous aggregates form a cycle at {key!r}"
            )
        visiting.add(key)
        for dependency in aggregates[key].get("depends_on", []):
            for other, state in aggregates.items():
                if state["view"] == dependency or other == dependency:
                    visit(other)
        visiting.discard(key)
        ordered.append(key)

    for key in sorted(aggregates):
        visit(key)
    return ordered


def _same_definition(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return old["query"] == new["query"] and old.get("schema") == new.get("schema")


def check_changes(previous: State, target: State) -> None:
    """Refuse changes TimescaleDB cannot apply to an existing hypertable."""
    for key, new in target["hypertables"].items():
        old = previous["hypertables"].get(key)
        if old is None:
            continue
        if old["time_column"] != new["time_column"]:
            raise UnsupportedChange(
                f"{key}: the time column of an existing hypertable cannot change "
                f"({old['time_column']!r} -> {new['time_column']!r}); "
                "create a new table"
            )
        if old.get("space") != new.get("space"):
            raise UnsupportedChange(
                f"{key}: the space dimension of an existing hypertable cannot "
                "change; create a new table and copy the data"
            )


def plan(previous: State, target: State, caps: Capabilities) -> list[Statement]:
    """The statements turning ``previous`` into ``target`` on ``caps``."""
    check_changes(previous, target)
    statements: list[Statement] = []
    old_aggs, new_aggs = previous["aggregates"], target["aggregates"]
    old_order = _aggregate_order(old_aggs)
    new_order = _aggregate_order(new_aggs)

    # Aggregates to (re)create: new ones, changed ones, and everything that
    # reads from a recreated one.
    recreate: set[str] = set()
    for key in new_order:
        old = old_aggs.get(key)
        depends = new_aggs[key].get("depends_on", [])
        if (
            old is None
            or not _same_definition(old, new_aggs[key])
            or any(
                new_aggs[other]["view"] == dependency and other in recreate
                for dependency in depends
                for other in new_aggs
            )
        ):
            recreate.add(key)
    dropping = [k for k in old_order if k not in new_aggs or k in recreate]
    for key in reversed(old_order):
        if key in dropping:
            statements += sql.drop_aggregate(old_aggs[key], caps)

    old_hts, new_hts = previous["hypertables"], target["hypertables"]
    for key in sorted(new_hts):
        new, old = new_hts[key], old_hts.get(key)
        if old is None:
            statements += sql.create_hypertable(new, caps)
            if new.get("columnstore"):
                statements += sql.enable_columnstore(new, caps)
                if new["columnstore"].get("after"):
                    statements += sql.add_columnstore_policy(new, caps)
            if new.get("retention"):
                statements += sql.add_retention_policy(new, caps)
            continue
        if old["chunk_interval"] != new["chunk_interval"]:
            statements += sql.set_chunk_interval(new, caps)
        if old.get("columnstore") != new.get("columnstore"):
            if old.get("columnstore") and old["columnstore"].get("after"):
                statements += sql.remove_columnstore_policy(old, caps)
            if new.get("columnstore"):
                statements += sql.enable_columnstore(new, caps)
                if new["columnstore"].get("after"):
                    statements += sql.add_columnstore_policy(new, caps)
            else:
                statements += sql.disable_columnstore(old, caps)
        if old.get("retention") != new.get("retention"):
            if old.get("retention"):
                statements += sql.remove_retention_policy(old, caps)
            if new.get("retention"):
                statements += sql.add_retention_policy(new, caps)
    for key in sorted(set(old_hts) - set(new_hts)):
        # A hypertable cannot become a plain table again: its policies go,
        # the table stays partitioned until it is dropped.
        old = old_hts[key]
        if old.get("retention"):
            statements += sql.remove_retention_policy(old, caps)
        if old.get("columnstore") and old["columnstore"].get("after"):
            statements += sql.remove_columnstore_policy(old, caps)

    for key in new_order:
        new = new_aggs[key]
        if key in recreate:
            statements += sql.create_aggregate(new, caps)
            continue
        old = old_aggs[key]
        if old["materialized_only"] != new["materialized_only"]:
            statements += sql.set_materialized_only(new, caps)
        if old.get("refresh") != new.get("refresh"):
            if old.get("refresh"):
                statements += sql.remove_refresh_policy(old, caps)
            if new.get("refresh"):
                statements += sql.add_refresh_policy(new, caps)
    return statements


def empty_state() -> State:
    return {"hypertables": {}, "aggregates": {}}
