"""*What* the widgets app shows: the tables it was given, looked up by name,
and the widget entries (:mod:`pgext.widgets`) of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

from pgext import seam, widgets
from pgext.admin.errors import BadRequest, NotFound
from pgext.identifiers import quote_ident, quote_qualified


@dataclass
class TableEntry:
    table: type[Table]
    maps: list[dict[str, Any]]
    series: dict[str, Any] | None

    @property
    def name(self) -> str:
        return seam.table_name(self.table)

    @property
    def sql_name(self) -> str:
        return quote_qualified(self.name, seam.table_schema(self.table))

    @property
    def pk(self) -> Column:
        return seam.primary_key(self.table)

    def column(self, name: str) -> Column:
        for column in seam.table_columns(self.table):
            if seam.column_name(column) == name:
                return column
        raise BadRequest(f"{name!r} is not a column of {self.name!r}")

    def geometry_column(self, name: str | None) -> Column:
        names = [m["column"] for m in self.maps]
        if not names:
            raise NotFound(f"table {self.name!r} has no geometry column")
        if name is None:
            name = names[0]
        if name not in names:
            raise BadRequest(
                f"{name!r} is not a geometry column of {self.name!r}; "
                f"expected one of {names}"
            )
        return self.column(name)

    def quoted(self, column: Column) -> str:
        return quote_ident(seam.column_name(column))


@dataclass
class Registry:
    tables: dict[str, TableEntry] = field(default_factory=dict)

    @classmethod
    def build(cls, tables: Sequence[type[Table]]) -> Registry:
        registry = cls()
        for table in tables:
            entry = TableEntry(
                table, widgets.map_widgets(table), widgets.timeseries_widget(table)
            )
            if entry.maps or entry.series:
                registry.tables[entry.name] = entry
        return registry

    def get(self, name: str) -> TableEntry:
        entry = self.tables.get(name)
        if entry is None:
            raise NotFound(
                f"unknown table {name[:80]!r}; the widgets show {sorted(self.tables)}"
            )
        return entry

    def map_table(self, name: str) -> TableEntry:
        entry = self.get(name)
        if not entry.maps:
            raise NotFound(f"table {name!r} has no map widget (no geometry column)")
        return entry

    def series_table(self, name: str) -> TableEntry:
        entry = self.get(name)
        if entry.series is None:
            raise NotFound(f"table {name!r} has no time-series widget (no time column)")
        return entry

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"table": name, "widgets": [*entry.maps, *filter(None, [entry.series])]}
            for name, entry in sorted(self.tables.items())
        ]
