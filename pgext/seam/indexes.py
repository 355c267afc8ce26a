"""Index DDL: extra statements after Piccolo's ``CREATE INDEX``.

``CreateIndex`` (used by ``create_table`` and by migrations that add a table
or a column) emits one index per indexed column, and its ``postgres_ddl``
property is the only place that sees the table, the columns and
``if_not_exists`` together.  A hook registered here may add statements after
it: ``hook(table, columns, if_not_exists) -> list[str]`` (pgext.postgis adds
the ``::geography`` expression index of lon/lat geometry columns).
"""

from __future__ import annotations

from typing import Any

from pgext.seam._patching import _getter, _wrap_property

_INDEX_DDL_HOOKS: list[Any] = []


def install_create_index_hook(hook: Any) -> None:
    from piccolo.query.methods.create_index import CreateIndex

    if hook not in _INDEX_DDL_HOOKS:
        _INDEX_DDL_HOOKS.append(hook)
    getter = _getter(CreateIndex, "postgres_ddl")

    def postgres_ddl(self: Any) -> Any:
        ddl = list(getter(self))
        for registered in _INDEX_DDL_HOOKS:
            ddl.extend(registered(self.table, list(self.columns), self.if_not_exists))
        return ddl

    _wrap_property(CreateIndex, "postgres_ddl", postgres_ddl)
