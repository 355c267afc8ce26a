"""Time series the Citus way: a distributed table range-partitioned by time,
declared on the model like a hypertable::

    @time_partitioned("ts", interval="1 day", premake="7 days",
                      columnar_after="30 days", retention="1 year")
    @distributed("device")
    class Reading(Table):
        device = Integer(null=False)
        ts = Timestamptz()
        value = DoublePrecision()

Piccolo creates a plain table; the Citus migration (or
:func:`pgext.citus.setup`) rebuilds it as ``PARTITION BY RANGE (ts)`` --
same columns, defaults, sequence and indexes, rows moved over -- then
distributes it and creates the time partitions (Citus's
``create_time_partitions``).  Its primary key becomes
``(device, id, ts)``: PostgreSQL wants the partition column in it, Citus the
distribution column.  :func:`maintain` is the periodic job: partitions ahead
of time, old ones converted to columnar storage, expired ones dropped.
Backwards, the table is rebuilt as a plain one.

``TimeBucket`` (``date_bin`` without TimescaleDB) works on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from piccolo.columns import Date, Timestamp, Timestamptz
from piccolo.table import Table

from pgext import seam
from pgext.citus.errors import DistributionDeclarationError
from pgext.identifiers import quote_ident, quote_literal, validate_identifier

PARTITION_ATTRIBUTE = "__pgext_citus_partitions__"
TableT = TypeVar("TableT", bound=type[Table])

_INTERVAL_UNITS = ("hour", "hours", "day", "days", "week", "weeks", "month", "months")


def _interval(text: str | None, what: str) -> str | None:
    """``'7 days'`` as given, after checking it reads '<n> <unit>'."""
    if text is None:
        return None
    parts = str(text).split()
    if (
        len(parts) != 2
        or not parts[0].isdigit()
        or int(parts[0]) < 1
        or parts[1].lower() not in _INTERVAL_UNITS
    ):
        raise DistributionDeclarationError(
            f"{what} must read '<n> hours|days|weeks|months', got {text!r}"
        )
    return f"{int(parts[0])} {parts[1].lower()}"


@dataclass(frozen=True)
class TimePartitions:
    column: str
    interval: str
    premake: str
    columnar_after: str | None = None
    retention: str | None = None

    def state(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "interval": self.interval,
            "premake": self.premake,
            "columnar_after": self.columnar_after,
            "retention": self.retention,
        }


def time_partitions(table: type[Table]) -> TimePartitions | None:
    found = table.__dict__.get(PARTITION_ATTRIBUTE)
    return found if isinstance(found, TimePartitions) else None


def time_partitioned(
    column: str,
    *,
    interval: str = "1 day",
    premake: str = "7 days",
    columnar_after: str | None = None,
    retention: str | None = None,
) -> Callable[[TableT], TableT]:
    """Class decorator, above :func:`~pgext.citus.distributed`."""

    def decorate(table: TableT) -> TableT:
        from pgext.citus.spec import HASH, citus_spec

        spec = citus_spec(table)
        if spec is None or spec.kind != HASH:
            raise DistributionDeclarationError(
                f"@time_partitioned goes above @distributed(...) on "
                f"{seam.table_name(table)!r}"
            )
        validate_identifier(column, what="time column")
        columns = {seam.column_name(c): c for c in seam.table_columns(table)}
        if not isinstance(columns.get(column), (Timestamptz, Timestamp, Date)):
            raise DistributionDeclarationError(
                f"time column {column!r} of {seam.table_name(table)!r} must be a "
                "Timestamptz, Timestamp or Date column"
            )
        found = TimePartitions(
            column=column,
            interval=_interval(interval, "interval") or "1 day",
            premake=_interval(premake, "premake") or "7 days",
            columnar_after=_interval(columnar_after, "columnar_after"),
            retention=_interval(retention, "retention"),
        )
        setattr(table, PARTITION_ATTRIBUTE, found)
        return table

    return decorate


def rebuild_sql(rel: str, key: list[str], partitions: Mapping[str, Any] | None) -> str:
    """One DO block rebuilding ``rel`` (a quoted relation) with primary key
    ``key``: partitioned by range on ``partitions['column']``, or plain when
    ``partitions`` is None.  Columns, defaults, the serial sequence and the
    other indexes carry over; rows are moved; the old table is dropped.  A
    DO block takes no parameters: names go in as quoted literals and through
    ``format('%I')``; intervals were checked by :func:`_interval`."""
    old = rel[:-1] + '__pgext_old"' if rel.endswith('"') else rel + "__pgext_old"
    old_name = old.rsplit(".", 1)[-1]
    by = ""
    if partitions is not None:
        by = f" PARTITION BY RANGE ({quote_ident(partitions['column'])})"
    columns = ", ".join(quote_ident(c) for c in key)
    lines = [
        "DO $pgext$ DECLARE ix record; dep record; lo timestamptz; "
        "hi timestamptz; prop text; BEGIN ",
        f"EXECUTE 'ALTER TABLE ' || {quote_literal(rel)} || ' RENAME TO ' "
        f"|| {quote_literal(old_name)}; ",
        # The old key goes first, so the new one gets its name back.
        "FOR dep IN SELECT conname FROM pg_constraint "
        f"WHERE conrelid = {quote_literal(old)}::regclass AND contype = 'p' LOOP "
        f"EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {quote_literal(old)}, "
        "dep.conname); END LOOP; ",
        f"EXECUTE 'CREATE TABLE ' || {quote_literal(rel)} || ' (LIKE ' || "
        f"{quote_literal(old)} || ' INCLUDING DEFAULTS INCLUDING STORAGE "
        f"INCLUDING COMMENTS)' || {quote_literal(by)}; ",
        f"EXECUTE 'ALTER TABLE ' || {quote_literal(rel)} || ' ADD PRIMARY KEY "
        f"(' || {quote_literal(columns)} || ')'; ",
        # The serial sequence would go with the old table: hand it over.
        # Citus keeps a table's sequence as a distributed object after
        # undistribute_table and refuses to ALTER it; the change is local
        # (the table is local by then), so its propagation is paused.
        "prop := current_setting('citus.enable_ddl_propagation'); "
        "PERFORM set_config('citus.enable_ddl_propagation', 'off', true); "
        "FOR dep IN SELECT d.objid::regclass::text AS seq, a.attname AS col "
        "FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        f"WHERE d.refobjid = {quote_literal(old)}::regclass "
        "AND d.classid = 'pg_class'::regclass AND d.deptype = 'a' LOOP "
        "EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', dep.seq, "
        f"{quote_literal(rel)}, dep.col); END LOOP; "
        "PERFORM set_config('citus.enable_ddl_propagation', prop, true); ",
        # Piccolo's other indexes, under their own names, on the new table
        # (a partitioned parent's definitions read ON ONLY).
        "FOR ix IN SELECT c.relname AS name, n.nspname AS nsp, "
        "pg_get_indexdef(i.indexrelid) AS def, "
        "quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS tbl "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        f"WHERE i.indrelid = {quote_literal(old)}::regclass AND NOT i.indisprimary "
        "LOOP EXECUTE format('DROP INDEX %I.%I', ix.nsp, ix.name); "
        "EXECUTE replace(replace(ix.def, ' ON ONLY ' || ix.tbl || ' ', "
        "' ON ' || ix.tbl || ' '), ' ON ' || ix.tbl || ' ', "
        f"' ON ' || {quote_literal(rel)} || ' '); END LOOP; ",
    ]
    if partitions is not None:
        premake = partitions["premake"]
        step = partitions["interval"]
        lines.append(
            f"EXECUTE 'SELECT min({quote_ident(partitions['column'])})::timestamptz, "
            f"max({quote_ident(partitions['column'])})::timestamptz FROM ' || "
            f"{quote_literal(old)} INTO lo, hi; "
            "PERFORM create_time_partitions("
            f"table_name := {quote_literal(rel)}::regclass, "
            f"partition_interval := {quote_literal(step)}::interval, "
            f"end_at := greatest(now() + {quote_literal(premake)}::interval, "
            f"hi + {quote_literal(step)}::interval), "
            "start_from := least(coalesce(lo, now()), now())); "
        )
    lines.append(
        f"EXECUTE 'INSERT INTO ' || {quote_literal(rel)} || ' SELECT * FROM ' || "
        f"{quote_literal(old)}; "
        f"EXECUTE 'DROP TABLE ' || {quote_literal(old)}; END $pgext$"
    )
    return "".join(lines)
