"""Writes: INSERT's row values, INSERT's returned keys and ``save()``.

Three private places of Piccolo's write path, each wrapped once:

- ``Insert.default_querystrings`` (a property), for the insert hooks and
  for naming the row a refused value came from;
- ``Insert._raw_response_callback``, which hands the returned keys to the
  row objects (Citus returns them out of order);
- ``Table.save``, whose UPDATE Citus must narrow.

Every INSERT goes through the first wrapper, so it is written to cost one
call and two look-ups when no hook applies to the INSERT at hand.
"""

from __future__ import annotations

from typing import Any

from pgext.seam._patching import _getter, _replace, _wrap_property, is_wrapped

# -- insert hooks and row numbers --------------------------------------------------
#
# An INSERT of several rows builds every row's values in one go
# (``Insert.default_querystrings`` reads ``row.querystring`` of each added
# row), so a refused value does not know its row.  On such an error -- one
# with ``for_row`` and no row yet -- the wrapper finds the first row that
# fails on its own and re-raises the error naming it.  Only the failing path
# pays for the search.
#
# The same wrapper first runs the registered insert hooks: ``hook(table,
# rows) -> (undo callable) | None`` sees all of an INSERT's row objects
# before Piccolo builds their values one by one, so it can prepare a whole
# column at once (pgext.postgis checks and encodes every geometry of the
# INSERT in a few vectorised shapely calls); ``undo`` runs once the values are
# built.  A hook registered with ``min_rows`` is not called for INSERTs of
# fewer rows (a one-row INSERT has nothing to vectorise).

_INSERT_HOOKS: list[Any] = []
_MIN_ROWS: dict[Any, int] = {}
# The fewest rows any registered hook wants: smaller INSERTs skip the hooks.
_fewest_rows = 1


def install_insert_hook(hook: Any, *, min_rows: int = 1) -> None:
    """Register ``hook(table, rows)`` (idempotent), called for INSERTs of at
    least ``min_rows`` rows."""
    global _fewest_rows
    if hook not in _INSERT_HOOKS:
        _INSERT_HOOKS.append(hook)
    _MIN_ROWS[hook] = max(1, min_rows)
    _fewest_rows = min(_MIN_ROWS.get(registered, 1) for registered in _INSERT_HOOKS)
    install_insert_row_numbers()


def _name_failing_row(insert: Any, error: Exception) -> None:
    """Re-raise ``error`` for the first row that fails on its own, when it
    is a value error without a row; return (the caller re-raises) otherwise."""
    if getattr(error, "row", 0) is not None or not hasattr(error, "for_row"):
        return
    for position, row in enumerate(insert.add_delegate._add):
        try:
            row.querystring  # noqa: B018 - builds (and checks) the values
        except type(error) as found:
            raise found.for_row(position) from None


def install_insert_row_numbers() -> None:
    """Wrap ``Insert.default_querystrings`` (idempotent)."""
    from piccolo.query.methods.insert import Insert

    getter = _getter(Insert, "default_querystrings")

    def build(self: Any) -> Any:
        try:
            return getter(self)
        except Exception as error:
            _name_failing_row(self, error)
            raise

    def default_querystrings(self: Any) -> Any:
        rows = self.add_delegate._add
        if not _INSERT_HOOKS or len(rows) < _fewest_rows:
            try:
                return getter(self)
            except Exception as error:
                _name_failing_row(self, error)
                raise
        count = len(rows)
        undo = []
        try:
            for hook in _INSERT_HOOKS:
                if count < _MIN_ROWS.get(hook, 1):
                    continue
                done = hook(self.table, rows)
                if done is not None:
                    undo.append(done)
            return build(self)
        finally:
            for done in reversed(undo):
                done()

    _wrap_property(Insert, "default_querystrings", default_querystrings)


# -- the keys an INSERT returns ----------------------------------------------------
#
# ``Insert._raw_response_callback`` gives the i-th returned row's key to the
# i-th object.  Citus returns the rows of a multi-row INSERT grouped by shard,
# so a registered hook may reorder them first:
# ``hook(table, instances, rows) -> rows | None``.

_INSERT_RESULT_HOOKS: list[Any] = []


def install_insert_result_hook(hook: Any) -> None:
    from piccolo.query.methods.insert import Insert

    if hook not in _INSERT_RESULT_HOOKS:
        _INSERT_RESULT_HOOKS.append(hook)
    original = Insert._raw_response_callback
    if is_wrapped(original):
        return

    def _raw_response_callback(self: Any, results: list[Any]) -> None:
        for registered in _INSERT_RESULT_HOOKS:
            reordered = registered(self.table, list(self.add_delegate._add), results)
            if reordered is not None:
                results = reordered
        original(self, results)

    _replace(Insert, "_raw_response_callback", _raw_response_callback, original)


# -- save() ------------------------------------------------------------------------
#
# ``Table.save()`` on a stored row updates every column but the primary key.
# A registered hook may narrow that: ``hook(instance, columns) -> (columns,
# where) | None``; ``where`` (or None) is added to the UPDATE's filter.

_SAVE_HOOKS: list[Any] = []


def install_save_hook(hook: Any) -> None:
    from piccolo.table import Table

    if hook not in _SAVE_HOOKS:
        _SAVE_HOOKS.append(hook)
    original = Table.save
    if is_wrapped(original):
        return

    def save(self: Any, columns: Any = None) -> Any:
        where = None
        if self._exists_in_db:
            for registered in _SAVE_HOOKS:
                changed = registered(self, columns)
                if changed is not None:
                    columns, where = changed
        query: Any = original(self, columns)
        if where is not None:
            query = query.where(where)
        return query

    _replace(Table, "save", save, original)
