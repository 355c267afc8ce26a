"""TimescaleDB for Piccolo: hypertables declared on tables, continuous
aggregates as read-only tables, time-series query expressions, auto
migrations, version- and licence-aware SQL, introspection and bulk ingest.

Importing this package hooks pgext into ``piccolo migrations new --auto``
(see :mod:`pgext.timescale.migrations`).
"""

from __future__ import annotations

from pgext.timescale import info
from pgext.timescale.aggregates import (
    ContinuousAggregate,
    RefreshPolicy,
    continuous_aggregate,
)
from pgext.timescale.apply import (
    create,
    execute,
    is_hypertable,
    refresh,
    run_job,
    set_columnstore_policy,
    set_retention,
    setup,
    teardown,
)
from pgext.timescale.errors import (
    HypertableDeclarationError,
    IngestError,
    InvalidInterval,
    NotAHypertable,
    ReadOnlyError,
    TimescaleError,
    TimescaleNotInstalled,
    UnsupportedChange,
)
from pgext.timescale.functions import (
    First,
    Interpolate,
    Last,
    Locf,
    TimeBucket,
    TimeBucketGapfill,
)
from pgext.timescale.ingest import bulk_insert
from pgext.timescale.migrations import install as _install_migration_hook
from pgext.timescale.spec import Columnstore, HashDimension, hypertable

_install_migration_hook()

__all__ = [
    "Columnstore",
    "ContinuousAggregate",
    "First",
    "HashDimension",
    "HypertableDeclarationError",
    "IngestError",
    "Interpolate",
    "InvalidInterval",
    "Last",
    "Locf",
    "NotAHypertable",
    "ReadOnlyError",
    "RefreshPolicy",
    "TimeBucket",
    "TimeBucketGapfill",
    "TimescaleError",
    "TimescaleNotInstalled",
    "UnsupportedChange",
    "bulk_insert",
    "continuous_aggregate",
    "create",
    "execute",
    "hypertable",
    "info",
    "is_hypertable",
    "refresh",
    "run_job",
    "set_columnstore_policy",
    "set_retention",
    "setup",
    "teardown",
]
