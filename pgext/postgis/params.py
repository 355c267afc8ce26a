"""Where a prepared query's geometry goes: :class:`GeometryParam` in the
query a user writes, :class:`ParamSlot` among the compiled bind values
(see :mod:`pgext.postgis.prepared`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pgext.postgis.query_errors import SpatialQueryError
from pgext.postgis.spatial_info import SpatialInfo


@dataclass(frozen=True)
class GeometryParam:
    """Where :meth:`PreparedSelect.run` puts a geometry: usable wherever a
    spatial method takes a geometry value (``dwithin``, ``knn``,
    ``intersects`` ...), in a query given to :func:`prepare`."""

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a parameter name is an identifier, got {self.name!r}")
        if self.name in _RUN_ARGUMENTS:
            raise ValueError(f"{self.name!r} is run()'s own argument; pick another")


# run()'s own parameters, which a point's keyword would collide with.
_RUN_ARGUMENTS = frozenset({"self", "connection"})


@dataclass(frozen=True)
class ParamSlot:
    """A :class:`GeometryParam` as it sits among a compiled query's bind
    values: with the column it is compared to, whose rules its value must
    pass.  Sent to the server as is, it cannot be encoded: only
    :meth:`PreparedSelect.run` replaces it."""

    param: GeometryParam
    owner: SpatialInfo
    sql_type: str

    @property
    def __geo_interface__(self) -> Any:
        # Where the codec looks last for a geometry: a query run without
        # prepare() says what is missing instead of "cannot read".

        raise SpatialQueryError(
            f"no value for GeometryParam({self.param.name!r}): run the query "
            f"through prepare(query).run({self.param.name}=...)"
        )
