"""Every error pgext raises on purpose derives from :class:`PgextError`.

Callers can catch one class to tell "pgext refused this input or this server"
apart from a driver failure.  Each subclass names one kind of problem.
"""

from __future__ import annotations

from collections.abc import Callable


class PgextError(Exception):
    """Base class of all pgext errors."""


class ExtensionError(PgextError):
    """A Postgres extension is missing, not installable or too old."""


class ExtensionNotAvailable(ExtensionError):
    """The server does not have the extension's files installed."""


class ExtensionNotPreloaded(ExtensionError):
    """The extension must be in ``shared_preload_libraries`` first."""


class ExtensionNotInstalled(ExtensionError):
    """The extension is available but ``CREATE EXTENSION`` has not run."""


class LicenseError(ExtensionError):
    """A TimescaleDB feature needs the community licence (not Apache-only)."""


class InvalidIdentifier(PgextError, ValueError):
    """A name that would be put into SQL is not acceptable."""


class InvalidValue(PgextError, ValueError):
    """A value was refused before anything was sent to the database."""


class ServerError(PgextError):
    """A test or playground server could not be started or stopped."""


# Server errors may name internal objects (Citus names the shard,
# ``shop_pkey_102008``, where the user declared ``shop_pkey``).  Translators
# registered here turn such an error into the one the user should see; the
# engine runs them on every error a query raises.  Only pgext.citus registers
# one, so the engine asks :func:`error_translators_registered` and, when none
# is, runs queries without a translating frame around them.
_TRANSLATORS: list[Callable[[BaseException], BaseException | None]] = []


def add_error_translator(
    translator: Callable[[BaseException], BaseException | None],
) -> None:
    """Register ``translator(error) -> replacement | None`` (idempotent)."""
    if translator not in _TRANSLATORS:
        _TRANSLATORS.append(translator)


def error_translators_registered() -> bool:
    """Whether any translator is registered (errors may then be rewritten)."""
    return bool(_TRANSLATORS)


def translate_error(error: BaseException) -> BaseException:
    """``error`` as the registered translators rewrite it (or unchanged)."""
    for translator in _TRANSLATORS:
        replaced = translator(error)
        if replaced is not None:
            error = replaced
    return error
