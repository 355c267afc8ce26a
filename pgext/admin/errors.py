"""Errors the widgets' endpoints turn into HTTP responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pgext.errors import InvalidIdentifier, InvalidValue, PgextError

Handler = Callable[[Request], Awaitable[Response]]


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


def database_refusal(error: Exception) -> BadRequest:
    """A constraint of the table (NOT NULL, CHECK, FK) refused the row: say
    which, without a driver traceback."""
    return BadRequest(
        f"the database refused the change: {error.args[0] if error.args else error}"
    )


def json_errors(function: Handler) -> Handler:
    """Refusals become JSON 4xx responses ``{"error": reason}``."""

    async def wrapped(request: Request) -> Response:
        try:
            return await function(request)
        except WidgetError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
        except (InvalidValue, InvalidIdentifier) as error:
            return JSONResponse({"error": str(error)}, status_code=400)

    wrapped.__name__ = function.__name__
    return wrapped
