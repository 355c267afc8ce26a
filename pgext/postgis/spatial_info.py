"""The declaration of a spatial column as the query side needs it: at the
ground of the query modules, which all take it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpatialInfo:
    """The declaration of a spatial column as the query side needs it."""

    name: str
    srid: int
    is_geography: bool

    @property
    def sql_type(self) -> str:
        return "geography" if self.is_geography else "geometry"
