"""Correct ORM writes on distributed tables.

Three things a Piccolo user would get wrong without noticing:

* ``Table.insert(a, b, c)`` gives the i-th returned id to the i-th object,
  but Citus returns the rows of a multi-row INSERT grouped by shard.  The
  ids come from the table's sequence, evaluated on the coordinator in row
  order, so sorting the returned keys restores the insert order; objects
  that carried their own key keep it.
* ``save()`` writes every column; writing the distribution column is
  refused by Citus ("modifying the partition value of rows is not
  allowed"), even with the same value.  pgext leaves it out, and adds it to
  the filter so the UPDATE goes to one shard; naming it in ``columns=`` is
  refused before anything is sent (moving a row to another tenant is a
  delete and an insert).
* Constraint errors name the shard's constraint (``shop_pkey_102008``); the
  engine's error translator gives back the user's names.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from piccolo.columns import Column
from piccolo.table import Table

from pgext import seam
from pgext.citus.errors import RefusedOnDistributed
from pgext.citus.spec import DECLARED_NAMES, HASH, citus_spec, distribution_column
from pgext.errors import add_error_translator
from pgext.guards import add_combined_write_guard, add_row_trigger_guard

_DEFAULT = "DEFAULT"


def _is_default(value: Any) -> bool:
    # Piccolo's Serial default renders as the SQL keyword DEFAULT.
    return value is None or str(value).strip().upper() == _DEFAULT


def order_insert_results(
    table: type[Table], instances: list[Any], rows: list[Any]
) -> list[Any] | None:
    spec = citus_spec(table)
    if spec is None or spec.kind != HASH or len(rows) < 2:
        return None
    pk = seam.primary_key(table)
    name = seam.column_name(pk)
    if any(name not in row for row in rows) or len(rows) != len(instances):
        return None
    attribute = seam.column_attribute(pk)
    given = [getattr(instance, attribute, None) for instance in instances]
    by_key = {row[name]: row for row in rows}
    explicit = {value for value in given if not _is_default(value)}
    generated = sorted(
        (row for row in rows if row[name] not in explicit), key=lambda row: row[name]
    )
    ordered: list[Any] = []
    for value in given:
        if not _is_default(value) and value in by_key:
            ordered.append(by_key[value])
        else:
            ordered.append(generated.pop(0))
    return ordered


def _column_named(table: type[Table], name: str) -> Column:
    for column in seam.table_columns(table):
        if seam.column_attribute(column) == name or seam.column_name(column) == name:
            return column
    raise RefusedOnDistributed(f"{seam.table_name(table)!r} has no column {name!r}")


def narrow_save(instance: Any, columns: Any) -> tuple[list[Column], Any] | None:
    table = type(instance)
    dist = distribution_column(table)
    if dist is None:
        return None
    dist_name = seam.column_name(dist)
    if columns is None:
        chosen = [
            column
            for column in seam.table_columns(table)
            if not seam.column_is_primary_key(column) and column is not dist
        ]
    else:
        chosen = []
        for item in columns:
            column = _column_named(table, item) if isinstance(item, str) else item
            if seam.column_name(column) == dist_name:
                raise RefusedOnDistributed(
                    f"save(columns=[...{dist_name!r}...]) on "
                    f"{seam.table_name(table)!r}: the distribution column of a "
                    "row cannot change on Citus; delete the row and insert it "
                    "with the new value"
                )
            chosen.append(column)
    value = getattr(instance, seam.column_attribute(dist), None)
    return chosen, dist == value


_SHARD_TABLE = re.compile(r"^(?P<name>.+)_(?P<shard>\d+)$")


def translate_shard_names(error: BaseException) -> BaseException | None:
    """A constraint error that names a shard, renamed to the user's table
    and constraint.  Citus appends ``_<shard id>`` to both."""
    if not isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return None
    fields = dict(error.__dict__)
    table = fields.get("table_name") or ""
    constraint = fields.get("constraint_name") or ""
    found = _SHARD_TABLE.match(table)
    if found is None or not constraint.endswith("_" + found.group("shard")):
        return None
    if found.group("name") not in DECLARED_NAMES:
        return None
    suffix = "_" + found.group("shard")
    user_table = found.group("name")
    user_constraint = constraint[: -len(suffix)]

    def rename(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return text.replace(constraint, user_constraint).replace(table, user_table)

    for key in ("message", "detail", "hint"):
        if key in fields:
            fields[key] = rename(fields[key])
    fields["table_name"] = user_table
    fields["constraint_name"] = user_constraint
    replaced: BaseException = type(error)(rename(str(error)))
    replaced.__dict__.update(fields)
    return replaced


def refuse_row_triggers(table: Any, purpose: str) -> None:
    """Citus tables take no row triggers: Citus refuses them, and where they
    are forced they fire on the workers, where a NOTIFY breaks every
    transaction that writes on more than one node."""
    spec = citus_spec(table) if isinstance(table, type) else None
    if spec is None:
        return
    kind = "distributed" if spec.kind == HASH else "reference"
    raise RefusedOnDistributed(
        f"{purpose} needs a row trigger, and {seam.table_name(table)!r} is a "
        f"{kind} Citus table, where triggers do not work.  Publish from the "
        "application's own writes instead: hub.publish(channel, ...) on a "
        "durable channel inside the writing transaction (the outbox stays "
        "on the coordinator)"
    )


def refuse_combined_writes(table: Any, purpose: str) -> None:
    """A write to a distributed table inside a data-modifying CTE next to a
    write to a local table (the outbox) fails inside Citus ("relation with
    oid 0 is not a Citus table"); refused before anything is sent."""
    if isinstance(table, type) and citus_spec(table) is not None:
        raise RefusedOnDistributed(
            f"{purpose} would write to the Citus table "
            f"{seam.table_name(table)!r} and the coordinator's outbox in one "
            "statement, which Citus cannot run.  Write and publish in one "
            "transaction instead: async with engine.transaction(): await "
            "query; await hub.publish(channel, payload)"
        )


def install() -> None:
    """Hook the fixes into Piccolo, the engine and pgext's guards
    (idempotent)."""
    seam.install_insert_result_hook(order_insert_results)
    seam.install_save_hook(narrow_save)
    add_error_translator(translate_shard_names)
    add_row_trigger_guard(refuse_row_triggers)
    add_combined_write_guard(refuse_combined_writes)
