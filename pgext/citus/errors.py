"""Errors of :mod:`pgext.citus`; all are :class:`~pgext.errors.PgextError`."""

from __future__ import annotations

from pgext.errors import PgextError


class CitusError(PgextError):
    """Base class of the Citus errors."""


class CitusNotInstalled(CitusError):
    """The connected server has no Citus extension in this database."""


class DistributionDeclarationError(CitusError, ValueError):
    """A table's distribution declaration breaks a rule Citus enforces (or
    one whose breach Citus would not notice); raised at import time."""


class RefusedOnDistributed(CitusError):
    """An operation pgext refuses on a distributed table, before anything
    is sent (Citus refuses it, or would give a wrong result)."""
