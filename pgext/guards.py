"""Rules one part of pgext declares about a table that other parts must
respect without importing it.

pgext.citus, for instance, knows that a distributed table takes no row
triggers; pgext.pubsub builds row-change feeds out of triggers.  pubsub asks
:func:`check_row_triggers` before it declares a feed, and citus registers
the guard that refuses -- so neither imports the other.  The same for a
statement that would put a write to ``table`` into a data-modifying CTE
beside another write (pub/sub's ``publish(along=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ROW_TRIGGER_GUARDS: list[Callable[[Any, str], None]] = []


def add_row_trigger_guard(guard: Callable[[Any, str], None]) -> None:
    """Register ``guard(table, purpose)``; it raises a
    :class:`~pgext.errors.PgextError` when ``table`` must not get a row
    trigger (idempotent)."""
    if guard not in _ROW_TRIGGER_GUARDS:
        _ROW_TRIGGER_GUARDS.append(guard)


def check_row_triggers(table: Any, purpose: str) -> None:
    """Raise when a registered guard refuses a row trigger on ``table``;
    ``purpose`` says what the trigger is for, for the error message."""
    for guard in _ROW_TRIGGER_GUARDS:
        guard(table, purpose)


_COMBINED_WRITE_GUARDS: list[Callable[[Any, str], None]] = []


def add_combined_write_guard(guard: Callable[[Any, str], None]) -> None:
    """Register ``guard(table, purpose)``; it raises when a write to
    ``table`` must not be combined with another one in one statement (a
    data-modifying CTE)."""
    if guard not in _COMBINED_WRITE_GUARDS:
        _COMBINED_WRITE_GUARDS.append(guard)


def check_combined_write(table: Any, purpose: str) -> None:
    for guard in _COMBINED_WRITE_GUARDS:
        guard(table, purpose)
