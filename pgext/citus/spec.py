"""*What* a Citus table is: the declarations users write on their Piccolo
tables, checked against Citus's rules at import time.

Two kinds, each a class decorator:

* :func:`distributed` -- hash-distributed by one column, co-located
  explicitly with another distributed table (or with none);
* :func:`reference` -- a small table copied to every node.

The rules checked here are the ones whose breach Citus either refuses late
(after Piccolo created the table) or does not notice at all:

* the distribution column joins the primary key (Piccolo's ``id`` becomes
  ``(tenant, id)``) and every other UNIQUE column is refused -- Citus can only
  enforce uniqueness that includes the distribution column;
* a ForeignKey may point at a reference table only: Piccolo's ForeignKey
  targets ``id`` alone, and on a distributed table that is not a key any more;
* a hypertable is never distributed (Citus ignores ``create_hypertable`` on a
  distributed table, and joins of the two returned wrong rows in our probe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from piccolo.columns import Column, ForeignKey
from piccolo.table import Table

from pgext import seam
from pgext.citus.errors import DistributionDeclarationError
from pgext.identifiers import validate_identifier

SPEC_ATTRIBUTE = "__pgext_citus__"
# Where pgext.timescale keeps a hypertable declaration; read by name only,
# because the two rooms do not import each other.
HYPERTABLE_ATTRIBUTE = "__pgext_hypertable__"

TableT = TypeVar("TableT", bound=type[Table])

HASH = "hash"
REFERENCE = "reference"


@dataclass(frozen=True)
class CitusSpec:
    """The validated declaration of one Citus table."""

    table: type[Table]
    kind: str  # HASH or REFERENCE
    column: str | None = None
    colocate_with: type[Table] | None = None
    shard_count: int | None = None
    primary_key: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return seam.table_name(self.table)

    @property
    def schema(self) -> str | None:
        return seam.table_schema(self.table)

    def state(self) -> dict[str, Any]:
        """Plain data for migrations: only str, int, list, dict, None."""
        colocate = None
        if self.colocate_with is not None:
            colocate = qualified(self.colocate_with)
        return {
            "schema": self.schema,
            "table": self.name,
            "kind": self.kind,
            "column": self.column,
            "colocate_with": colocate,
            "shard_count": self.shard_count,
            "primary_key": list(self.primary_key),
            "original_key": seam.column_name(seam.primary_key(self.table)),
        }


def qualified(table: type[Table]) -> str:
    schema = seam.table_schema(table)
    name = seam.table_name(table)
    return f"{schema}.{name}" if schema else name


# The SQL names of every declared table: the error translator renames a
# shard (``shop_102008``) only when its base name is one of these.
DECLARED_NAMES: set[str] = set()


def _declare(table: type[Table], spec: CitusSpec) -> None:
    setattr(table, SPEC_ATTRIBUTE, spec)
    DECLARED_NAMES.add(seam.table_name(table))


def citus_spec(table: type[Table]) -> CitusSpec | None:
    """The declaration on ``table`` itself (not inherited), or None."""
    spec = table.__dict__.get(SPEC_ATTRIBUTE)
    return spec if isinstance(spec, CitusSpec) else None


def is_hypertable(table: type[Table]) -> bool:
    return table.__dict__.get(HYPERTABLE_ATTRIBUTE) is not None


def refuse_hypertable(table: type[Table]) -> None:
    if is_hypertable(table):
        raise DistributionDeclarationError(
            f"{seam.table_name(table)!r} is a hypertable and cannot also be a "
            "Citus table: Citus does not distribute hypertables, and a join of "
            "a distributed table with a hypertable returned wrong rows.  Use "
            "a TimescaleDB server for it, or declare it with "
            "pgext.citus.time_partitioned(...) instead"
        )


def refuse_hypertable_joins(table: type[Table]) -> None:
    """A hypertable's ForeignKey to a Citus table would make Piccolo join
    the two, and such a join returned wrong rows (0 instead of 9) in our
    probe of Citus with TimescaleDB."""
    if not is_hypertable(table):
        return
    for column in seam.table_columns(table):
        if not isinstance(column, ForeignKey):
            continue
        target = seam.foreign_key_target(column)
        if citus_spec(target) is not None:
            raise DistributionDeclarationError(
                f"ForeignKey {seam.table_name(table)}.{seam.column_name(column)} "
                f"joins the hypertable {seam.table_name(table)!r} with the Citus "
                f"table {seam.table_name(target)!r}; Citus returns wrong rows for "
                "joins of distributed tables with hypertables.  Keep a plain "
                "column and query the two separately"
            )


def _columns(table: type[Table]) -> dict[str, Column]:
    return {seam.column_name(c): c for c in seam.table_columns(table)}


def _check_foreign_keys(table: type[Table], kind: str) -> None:
    for column in seam.table_columns(table):
        if not isinstance(column, ForeignKey):
            continue
        target = seam.foreign_key_target(column)
        target_spec = citus_spec(target)
        where = f"{seam.table_name(table)}.{seam.column_name(column)}"
        if target_spec is not None and target_spec.kind == REFERENCE:
            continue
        if kind == REFERENCE:
            raise DistributionDeclarationError(
                f"ForeignKey {where}: a reference table is copied to every node, "
                "so it may only point at other reference tables; declare "
                f"{seam.table_name(target)!r} with @reference"
            )
        if target_spec is None:
            raise DistributionDeclarationError(
                f"ForeignKey {where} points at {seam.table_name(target)!r}, a "
                "table local to the coordinator; Citus refuses that.  Declare "
                f"{seam.table_name(target)!r} with @reference (small tables "
                "shared by all tenants)"
            )
        raise DistributionDeclarationError(
            f"ForeignKey {where} points at the distributed table "
            f"{seam.table_name(target)!r}: Piccolo's ForeignKey targets its "
            f"'id' alone, which is no longer a key there (the key is "
            f"{list(target_spec.primary_key)}).  Keep a plain Integer column "
            "and join on the distribution column and id, or make the target a "
            "@reference table"
        )


def _check_unique(table: type[Table], column: str, pk: str) -> None:
    for name, col in _columns(table).items():
        if name in (column, pk):
            continue
        if seam.column_is_unique(col):
            raise DistributionDeclarationError(
                f"{seam.table_name(table)}.{name} is UNIQUE, but a distributed "
                f"table can only enforce uniqueness that includes its "
                f"distribution column {column!r}; drop unique=True (or "
                "distribute by this column)"
            )


def build_distributed(
    table: type[Table],
    column: str,
    colocate_with: type[Table] | None,
    shard_count: int | None,
) -> CitusSpec:
    """Check a hash-distribution declaration; raise before anything runs."""
    refuse_hypertable(table)
    validate_identifier(column, what="distribution column")
    columns = _columns(table)
    if column not in columns:
        raise DistributionDeclarationError(
            f"distribution column {column!r} is not a column of "
            f"{seam.table_name(table)!r}; its columns are {sorted(columns)}"
        )
    dist = columns[column]
    if isinstance(dist, ForeignKey):
        raise DistributionDeclarationError(
            f"distribution column {column!r} is a ForeignKey; distribute by a "
            "plain column (the tenant's id as an Integer or UUID column)"
        )
    if seam.column_is_nullable(dist) and not seam.column_is_primary_key(dist):
        raise DistributionDeclarationError(
            f"distribution column {column!r} of {seam.table_name(table)!r} is "
            "nullable; declare it null=False (Citus refuses NULL there)"
        )
    if shard_count is not None and (
        isinstance(shard_count, bool)
        or not isinstance(shard_count, int)
        or not 1 <= shard_count <= 64000
    ):
        raise DistributionDeclarationError("shard_count must be an int 1..64000")
    if colocate_with is not None:
        other = citus_spec(colocate_with)
        if other is None or other.kind != HASH:
            raise DistributionDeclarationError(
                f"colocate_with={seam.table_name(colocate_with)!r} is not a "
                "hash-distributed table (declare it with @distributed first)"
            )
        assert other.column is not None
        theirs = _columns(colocate_with)[other.column]
        if theirs.column_type != dist.column_type:
            raise DistributionDeclarationError(
                f"{seam.table_name(table)}.{column} is {dist.column_type} but "
                f"{seam.table_name(colocate_with)}.{other.column} is "
                f"{theirs.column_type}; co-located tables need the same type"
            )
        if shard_count is not None and shard_count != other.shard_count:
            raise DistributionDeclarationError(
                "a co-located table takes the shard count of the table it is "
                "co-located with; leave shard_count out"
            )
    pk = seam.column_name(seam.primary_key(table))
    _check_unique(table, column, pk)
    _check_foreign_keys(table, HASH)
    primary = (column,) if column == pk else (column, pk)
    return CitusSpec(
        table=table,
        kind=HASH,
        column=column,
        colocate_with=colocate_with,
        shard_count=shard_count,
        primary_key=primary,
    )


def distributed(
    column: str,
    *,
    colocate_with: type[Table] | None = None,
    shard_count: int | None = None,
) -> Callable[[TableT], TableT]:
    """Class decorator: hash-distribute the table by ``column``::

        @distributed("tenant")
        class Shop(Table):
            tenant = Integer(null=False)
            name = Varchar()

        @distributed("tenant", colocate_with=Shop)
        class Order(Table):
            tenant = Integer(null=False)

    Without ``colocate_with`` the table starts its own co-location group
    (Citus would otherwise co-locate it with any table distributed on a
    column of the same type, joined or not).
    """

    def decorate(table: TableT) -> TableT:
        _declare(table, build_distributed(table, column, colocate_with, shard_count))
        return table

    return decorate


def reference(table: TableT) -> TableT:
    """Class decorator: a reference table, copied to every node (lookups
    that every tenant joins with)."""
    refuse_hypertable(table)
    _check_foreign_keys(table, REFERENCE)
    pk = seam.column_name(seam.primary_key(table))
    _declare(table, CitusSpec(table=table, kind=REFERENCE, primary_key=(pk,)))
    return table


def distribution_column(table: type[Table]) -> Column | None:
    """The distribution column of a hash-distributed ``table``, else None."""
    spec = citus_spec(table)
    if spec is None or spec.column is None:
        return None
    return _columns(table)[spec.column]
