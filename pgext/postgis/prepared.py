"""A spatial select compiled once and run many times with other points.

Through Piccolo's query builder every ``await Shop.select(...).where(
Shop.location.dwithin(here, D(km=5)))`` builds the query objects, compiles
them to SQL (the nearest-first rewrite too) and runs them on a pooled
connection, which asyncpg resets on release: at sub-millisecond queries
that is most of the time (see docs/postgis-queries.md, "Cost per query").
:func:`prepare` does the building and compiling once, with a
:class:`GeometryParam` where the point goes::

    here = GeometryParam("here")
    nearby = prepare(Shop.select(Shop.id).where(Shop.location.dwithin(here, D(km=5))))
    rows = await nearby.run(here=Point(2.35, 48.85))

``run`` checks and encodes each point as the builder does (SRID, finiteness,
lon/lat range for geography), binds it where the query had the parameter,
sends the same SQL text (asyncpg keeps one prepared statement per text and
connection) and hands the records to Piccolo's own result processing, so
the rows are those the builder returns.  Everything else in the query is
fixed when it is prepared, bind values included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from pgext import seam
from pgext.errors import translate_error
from pgext.postgis.operands import encode_operand
from pgext.postgis.params import GeometryParam, ParamSlot
from pgext.postgis.spatial_info import SpatialInfo

__all__ = ["GeometryParam", "ParamSlot", "PreparedSelect", "prepare"]


class PreparedSelect:
    """A Piccolo ``Select`` compiled once (see the module docstring)."""

    __slots__ = ("_encode", "_names", "_plain", "_select", "_slots", "_template", "sql")

    def __init__(self, select: Any) -> None:
        from piccolo.query.methods.select import Select

        if not isinstance(select, Select):
            # Also Piccolo's wrappers (first(), output(as_list=True) ...),
            # which reshape the rows after the select has run.
            raise TypeError(
                f"prepare() takes a Piccolo select (without first() or "
                f"output(as_list/as_json)), got {select!r}"
            )
        querystring = select.querystrings[0]
        sql, values = querystring.compile_string(engine_type="postgres")
        self._select = select
        self.sql: str = sql
        self._template: list[Any] = list(values)
        self._slots: list[tuple[int, ParamSlot]] = [
            (index, value)
            for index, value in enumerate(values)
            if isinstance(value, ParamSlot)
        ]
        self._names = frozenset(slot.param.name for _, slot in self._slots)
        self._encode = encode_operand
        # Most selects need nothing of Piccolo's result processing but the
        # engine's row dicts; those skip it on every run.
        self._plain = seam.select_results_are_plain(select)

    @property
    def params(self) -> frozenset[str]:
        """The names :meth:`run` expects."""
        return self._names

    def bind_values(self, points: Mapping[str, Any]) -> list[Any]:
        """The bind values for ``points`` (checked and encoded once each)."""
        if points.keys() != self._names:
            missing = sorted(self._names - points.keys())
            extra = sorted(points.keys() - self._names)
            raise TypeError(
                f"this query takes the points {sorted(self._names)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {extra}" if extra else "")
            )
        values = self._template.copy()
        encode = self._encode
        if len(self._slots) == 1:
            index, slot = self._slots[0]
            values[index] = encode(points[slot.param.name], slot.owner, slot.sql_type)
            return values
        encoded: dict[tuple[str, SpatialInfo, str], Any] = {}
        for index, slot in self._slots:
            key = (slot.param.name, slot.owner, slot.sql_type)
            if key not in encoded:
                encoded[key] = encode(
                    points[slot.param.name], slot.owner, slot.sql_type
                )
            values[index] = encoded[key]
        return values

    async def run(
        self, connection: asyncpg.Connection | None = None, **points: Any
    ) -> Any:
        """The query's rows with ``points`` in place of its parameters, on
        ``connection`` (any connection of the table's engine, which has
        pgext's codecs), or else on the engine's current transaction or
        pool."""
        values = self.bind_values(points)
        try:
            if connection is not None:
                records = await connection.fetch(self.sql, *values)
            else:
                engine = seam.table_engine(self._select.table)
                async with engine.connection() as pooled:
                    records = await pooled.fetch(self.sql, *values)
        except asyncpg.PostgresError as error:
            translated = translate_error(error)
            if translated is error:
                raise
            raise translated from error
        if self._plain:
            if not records:
                return []
            engine = seam.table_engine(self._select.table)
            return engine.transform_response_to_dicts(records)
        return await seam.select_results(self._select, records)


def prepare(select: Any) -> PreparedSelect:
    """``select`` compiled once; see :class:`PreparedSelect`."""
    return PreparedSelect(select)
