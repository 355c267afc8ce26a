"""Citus for Piccolo: tables hash-distributed by a tenant column with explicit
co-location, reference tables, carried by Piccolo's auto migrations, with
the model rules Citus needs checked at import time and the ORM writes that
would silently go wrong on a distributed table fixed.

Importing this package hooks pgext into ``piccolo migrations new --auto``,
Piccolo's multi-row insert, ``save()`` and the engine's error translation
(see :mod:`pgext.citus.writes`).  See docs/scale-out.md.
"""

from __future__ import annotations

from pgext.citus import writes as _writes
from pgext.citus.apply import (
    distribution_column_on_server,
    is_citus_table,
    require_citus,
    setup,
    teardown,
)
from pgext.citus.errors import (
    CitusError,
    CitusNotInstalled,
    DistributionDeclarationError,
    RefusedOnDistributed,
)
from pgext.citus.migrations import install as _install_migration_hook
from pgext.citus.partitions import time_partitioned
from pgext.citus.schemas import distribute_schema, tenant_schemas, undistribute_schema
from pgext.citus.spec import citus_spec, distributed, reference
from pgext.citus.tenants import tenant_schema
from pgext.citus.timeseries import maintain

_install_migration_hook()
_writes.install()

__all__ = [
    "CitusError",
    "CitusNotInstalled",
    "DistributionDeclarationError",
    "RefusedOnDistributed",
    "citus_spec",
    "distribute_schema",
    "distributed",
    "distribution_column_on_server",
    "is_citus_table",
    "maintain",
    "reference",
    "require_citus",
    "setup",
    "teardown",
    "tenant_schema",
    "tenant_schemas",
    "time_partitioned",
    "undistribute_schema",
]
