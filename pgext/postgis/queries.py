"""Spatial query methods mixed into pgext's geometry and geography columns."""

from __future__ import annotations


class SpatialQueries:
    """Predicates, distance filters, KNN ordering and function shortcuts.

    Mixed into ``Geometry``/``Geography`` (``class Geometry(SpatialQueries,
    Column)``); the methods are filled in below.
    """
