"""Errors of the TimescaleDB feature pack.

Each one derives from a core pgext error, so ``except PgextError`` still
catches them, and each is raised before any DDL reaches the server.
"""

from __future__ import annotations

from pgext.errors import ExtensionNotInstalled, InvalidValue, PgextError


class TimescaleError(PgextError):
    """Base class of the TimescaleDB pack's own errors."""


class HypertableDeclarationError(TimescaleError, InvalidValue):
    """A hypertable or continuous aggregate declaration is not usable."""


class InvalidInterval(TimescaleError, InvalidValue):
    """An interval has the wrong type or cannot be parsed."""


class NotAHypertable(TimescaleError, InvalidValue):
    """A hypertable-only operation was asked of a plain table."""


class ReadOnlyError(TimescaleError):
    """Continuous aggregates are materialized views: they take no writes."""


class UnsupportedChange(TimescaleError):
    """A declared change that TimescaleDB cannot apply to an existing table
    (for instance a new time column); it needs a hand-written migration."""


class TimescaleNotInstalled(TimescaleError, ExtensionNotInstalled):
    """A TimescaleDB-only feature was used on a server without TimescaleDB."""


class IngestError(TimescaleError, InvalidValue):
    """A row given to ``bulk_insert`` holds a value its column cannot take;
    ``row`` is its index in the rows given, ``column`` the column's name."""

    def __init__(self, message: str, row: int, column: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
