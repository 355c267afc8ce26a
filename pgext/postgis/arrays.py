"""Column checks for a whole numpy array of geometries at once (bulk load).

:func:`check_array` gives the same verdicts as
:func:`~pgext.postgis.values.check_geometry` one value at a time, in a
handful of vectorised shapely calls; only a failing batch goes back to the
one-by-one check, to word the error and name the row.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

from pgext.postgis.errors import (
    CoordinateOutOfRange,
    DimensionMismatch,
    GeometryTypeMismatch,
    InvalidGeometry,
    NonFiniteCoordinate,
    SRIDMismatch,
)
from pgext.postgis.values import (
    GEOMETRY_TYPES,
    LINEARRING_ID,
    GeometrySpec,
    check_antipodal_edges,
    check_geometry,
    check_type,
)


def _non_finite_rows(values: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Which geometries have a NaN/Infinity ordinate; Z and M are read only
    from the geometries that have them (shapely fills absent ones with NaN)."""
    bad = np.zeros(len(values), dtype=bool)
    for subset, z, m in (
        (np.ones(len(values), dtype=bool), False, False),
        (shapely.has_z(values), True, False),
        (shapely.has_m(values), False, True),
    ):
        if not subset.any():
            continue
        coords, owners = shapely.get_coordinates(
            values[subset], include_z=z, include_m=m, return_index=True
        )
        finite = np.isfinite(coords).all(axis=1)
        if not finite.all():
            bad[np.flatnonzero(subset)[owners[~finite]]] = True
    return bad


def check_array(
    geometries: NDArray[np.object_], spec: GeometrySpec, column: str | None = None
) -> NDArray[np.object_]:
    """:func:`check_geometry` for a whole array, in a handful of shapely
    calls (bulk load).  ``None`` entries stay ``None``; the first bad entry is
    reported with its index."""
    present = ~shapely.is_missing(geometries)
    if not present.any():
        return geometries
    values = geometries[present]

    def fail(kind: type[InvalidGeometry], index_mask: NDArray[np.bool_]) -> None:
        position = int(np.flatnonzero(present)[np.argmax(index_mask)])
        try:
            check_geometry(geometries[position], spec, column)
        except InvalidGeometry as error:
            raise type(error)(error.problem, column, position) from None
        raise kind("rejected", column, position)  # pragma: no cover

    # NaN/Infinity first: every other check below would misjudge them.
    bad_rows = _non_finite_rows(values)
    if bad_rows.any():
        fail(NonFiniteCoordinate, bad_rows)

    type_ids = shapely.get_type_id(values)
    wanted = GEOMETRY_TYPES[spec.geometry_type]
    if wanted is not None:
        ok = (type_ids == wanted) | (
            (type_ids == LINEARRING_ID) & (wanted == GEOMETRY_TYPES["LineString"])
        )
        if not ok.all():
            fail(GeometryTypeMismatch, ~ok)
    srids = shapely.get_srid(values)
    bad_srid = (srids != 0) & (srids != spec.srid)
    if bad_srid.any():
        fail(SRIDMismatch, bad_srid)
    empty = shapely.is_empty(values)
    want_z = "Z" in spec.dimension
    want_m = spec.dimension.endswith("M")
    bad_dim = (shapely.has_z(values) != want_z) | (shapely.has_m(values) != want_m)
    if bad_dim.any():
        fail(DimensionMismatch, bad_dim)
    if spec.geography:
        bounds = shapely.bounds(values)
        with np.errstate(invalid="ignore"):
            bad = ~empty & ~(
                (bounds[:, 0] >= -180)
                & (bounds[:, 2] <= 180)
                & (bounds[:, 1] >= -90)
                & (bounds[:, 3] <= 90)
            )
        if bad.any():
            fail(CoordinateOutOfRange, bad)
        for position in np.flatnonzero(~empty & (type_ids != 0) & (type_ids != 4)):
            try:
                check_antipodal_edges(values[position])
            except InvalidGeometry as error:
                row = int(np.flatnonzero(present)[position])
                raise type(error)(error.problem, column, row) from None
    rings = type_ids == LINEARRING_ID
    needs_srid = srids != spec.srid
    if not rings.any() and not needs_srid.any():
        return geometries
    fixed = values.copy()
    for index in np.flatnonzero(rings):
        fixed[index] = check_type(fixed[index], spec)
    if needs_srid.any():
        fixed = shapely.set_srid(fixed, spec.srid)
    out = geometries.copy()
    out[present] = fixed
    return out
