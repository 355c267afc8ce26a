"""Schema-per-tenant declared on the models, so migrations carry it::

    @tenant_schema
    class Customer(Table, schema="tenant_acme"):
        email = Varchar(unique=True)

The table's schema becomes a distributed (tenant) schema
(``citus_schema_distribute``) in the pgext Citus migration written after
Piccolo's, and a local one again backwards.  Every table of the schema moves
with it, declared or not: the schema is the unit, the decorator names it.
"""

from __future__ import annotations

from typing import TypeVar

from piccolo.table import Table

from pgext import seam
from pgext.citus.errors import DistributionDeclarationError
from pgext.citus.spec import SPEC_ATTRIBUTE
from pgext.identifiers import validate_identifier

TENANT_ATTRIBUTE = "__pgext_citus_tenant_schema__"
TableT = TypeVar("TableT", bound=type[Table])


def tenant_schema(table: TableT) -> TableT:
    """Class decorator: the table's ``schema=`` is a Citus tenant schema."""
    schema = seam.table_schema(table)
    name = seam.table_name(table)
    if not schema or schema == "public":
        raise DistributionDeclarationError(
            f"@tenant_schema needs a table with schema=...; {name!r} has none"
        )
    validate_identifier(schema, what="schema")
    # Citus refuses to distribute a schema holding a Citus table, and a
    # table created in a tenant schema cannot be distributed by column.
    if table.__dict__.get(SPEC_ATTRIBUTE) is not None:
        raise DistributionDeclarationError(
            f"{name!r} is @distributed/@reference: it cannot be in a tenant schema"
        )
    setattr(table, TENANT_ATTRIBUTE, schema)
    return table


def tenant_schema_of(table: type[Table]) -> str | None:
    found = table.__dict__.get(TENANT_ATTRIBUTE)
    return found if isinstance(found, str) else None
