"""Which SQL a time expression should render to on the engine it runs on.

Query expressions are built before a query runs, with no engine at hand; the
engine is reached through the table of the column the expression wraps.  A
``PgextEngine`` caches its capabilities after its first detection (it detects
on start-up when created with ``extensions=``), so rendering needs no round
trip.  Without cached capabilities TimescaleDB is assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from piccolo.columns import Column

from pgext import seam
from pgext.capabilities import Capabilities


def cached_capabilities(engine: Any) -> Capabilities | None:
    """The capabilities ``engine`` already knows, without a query."""
    # Only PgextEngine detects capabilities; other engines have none.
    found = getattr(engine, "cached_capabilities", None)
    return found if isinstance(found, Capabilities) else None


def capabilities_for(columns: Sequence[Column]) -> Capabilities | None:
    for column in columns:
        try:
            engine = seam.table_engine(seam.column_table(column))
        except Exception:
            continue
        found = cached_capabilities(engine)
        if found is not None:
            return found
    return None


def has_timescaledb(columns: Sequence[Column]) -> bool:
    """False only when the engine is known to lack TimescaleDB."""
    found = capabilities_for(columns)
    return found is None or found.installed("timescaledb")
