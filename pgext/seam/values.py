"""Per-column value hooks: how a column converts the values Piccolo binds.

Piccolo has no per-column "to database" hook: ``convert_to_sql_value``
(piccolo.utils.sql_values) is hard-coded and imported *by name* into the
three modules that bind values: ``piccolo.table`` (INSERT / save),
``piccolo.query.mixins`` (UPDATE values) and ``piccolo.columns.combination``
(WHERE).  ``install_column_value_hooks`` rebinds those three names to
wrappers that first let a column convert the value itself, through
``pgext_write_value(value)`` (INSERT/UPDATE) or ``pgext_where_value(value)``
(WHERE), when the column defines it.  Columns without those methods see
Piccolo's behaviour unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgext.seam._patching import _replace, is_wrapped
from pgext.seam.writes import install_insert_row_numbers

if TYPE_CHECKING:
    from piccolo.columns import Column

_WRITE_HOOK = "pgext_write_value"
_WHERE_HOOK = "pgext_where_value"


def _value_hook_wrapper(original: Any, hook_name: str) -> Any:
    # Every bound value passes here: the hook is looked up once per column
    # class (a failed getattr on the instance costs an AttributeError each),
    # and a column class without one costs a dict look-up and a call.
    hooks: dict[type, Any] = {}

    def convert_to_sql_value(value: Any, column: Column) -> Any:
        kind = type(column)
        try:
            hook = hooks[kind]
        except KeyError:
            hook = hooks.setdefault(kind, getattr(kind, hook_name, None))
        if hook is None:
            return original(value, column)
        if isinstance(value, list):
            return [original(hook(column, item), column) for item in value]
        return original(hook(column, value), column)

    return convert_to_sql_value


def install_column_value_hooks() -> None:
    """Rebind ``convert_to_sql_value`` where Piccolo binds values (idempotent)."""
    import piccolo.columns.combination as where_module
    import piccolo.query.mixins as update_module
    import piccolo.table as insert_module

    install_insert_row_numbers()

    for module, hook_name in (
        (insert_module, _WRITE_HOOK),
        (update_module, _WRITE_HOOK),
        (where_module, _WHERE_HOOK),
    ):
        current = getattr(module, "convert_to_sql_value")  # noqa: B009
        if not is_wrapped(current):
            wrapper = _value_hook_wrapper(current, hook_name)
            _replace(module, "convert_to_sql_value", wrapper, current)
