"""Index DDL: extra statements after Piccolo's ``CREATE INDEX``.

``CreateIndex`` (used by ``create_table`` and by migrations that add a table
or a column) emits one index per indexed column, and its ``postgres_ddl``
property is the only place that sees the table, the columns and
``if_not_exists`` together.  A hook registered here may add statements after
it: ``hook(table, columns, if_not_exists) -> list[str]`` (pgext.postgis adds
the ``::geography`` expression index of lon/lat geometry columns).  The same
place gives an added column's index the column's own method (Piccolo's
migration asks for the default, btree).
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
        _use_columns_own_method(self)
        ddl = list(getter(self))
        for registered in _INDEX_DDL_HOOKS:
            ddl.extend(registered(self.table, list(self.columns), self.if_not_exists))
        return ddl

    _wrap_property(CreateIndex, "postgres_ddl", postgres_ddl)


def _use_columns_own_method(create_index: Any) -> None:
    # Piccolo's migration indexes an added column with
    # ``create_index([column])``, so with CreateIndex's default method
    # (btree) whatever the column's ``index_method`` says; ``create_table``
    # does use it.  A btree on geometries serves no spatial query and fails
    # on rows bigger than a btree page, so when the method is the default and
    # every column asks for the same other method, that method is meant.
    from piccolo.columns import Column
    from piccolo.columns.indexes import IndexMethod

    if create_index.method is not IndexMethod.btree:
        return
    methods = {
        column._meta.index_method if isinstance(column, Column) else None
        for column in create_index.columns
    }
    if len(methods) == 1:
        (method,) = methods
        if method is not None:
            create_index.method = method
