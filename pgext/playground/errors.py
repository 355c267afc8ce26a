"""Errors of the playground."""

from __future__ import annotations

from pgext.errors import PgextError


class PlaygroundError(PgextError):
    """Base class of the playground's errors."""


class NotOurTables(PlaygroundError):
    """Tables with the playground's names exist, but the playground did not
    make them (no ``playground_info`` table): they are left alone."""
