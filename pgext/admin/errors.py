"""Errors the widgets' endpoints turn into HTTP responses."""

from __future__ import annotations

from pgext.errors import PgextError


class WidgetError(PgextError):
    """A request the widgets app refuses; ``status`` is the HTTP status."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(WidgetError):
    """Malformed or out-of-range input (400)."""

    status = 400


class NotFound(WidgetError):
    """An unknown table, widget or row (404)."""

    status = 404


class TooLarge(WidgetError):
    """A request body above the size cap (413)."""

    status = 413


class Forbidden(WidgetError):
    """A write the admin's rules do not allow, e.g. in read-only mode (403)."""

    status = 403
