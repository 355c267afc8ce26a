"""The one package that touches private Piccolo details.

Piccolo exposes most of what pgext needs publicly (Column subclasses,
QueryString, Where, Function, MigrationManager, create_pydantic_model).  The
few private attributes and methods pgext still relies on are reached only
through the functions of this package, so a Piccolo upgrade that renames one
of them is a change here alone.  Each function says which Piccolo detail it
wraps; each module holds one concept:

- :mod:`~pgext.seam.tables`: ``Table._meta`` and ``Column._meta``;
- :mod:`~pgext.seam.values`: per-column value conversion (``convert_to_sql_value``);
- :mod:`~pgext.seam.writes`: INSERT hooks and row numbers, returned keys, ``save()``;
- :mod:`~pgext.seam.selects`: the select rewrite and what it reads and builds;
- :mod:`~pgext.seam.indexes`: extra DDL after ``CreateIndex``;
- :mod:`~pgext.seam.migrations`: column ALTERs and ``migrations new --auto``;
- :mod:`~pgext.seam.connections`: a private engine method, asyncpg's socket;
- :mod:`~pgext.seam.admin`: Piccolo Admin and piccolo_api attributes.

Callers use ``from pgext import seam`` and ``seam.<name>``; every name is
re-exported here.  tests/test_seam.py checks each place against the
installed Piccolo.  Verified against piccolo 1.38.
"""

from pgext.seam._patching import _getter, _wrap_property
from pgext.seam.admin import (
    admin_page_append,
    admin_read_only,
    admin_table_config,
    crud_hooks,
    run_crud_validators,
)
from pgext.seam.connections import connection_socket, run_in_new_connection
from pgext.seam.indexes import _INDEX_DDL_HOOKS, install_create_index_hook
from pgext.seam.migrations import (
    _ALTER_COLUMN_HOOKS,
    _AUTO_MIGRATION_EXCLUDES,
    _AUTO_MIGRATION_HOOKS,
    add_auto_migration_hook,
    install_alter_column_hook,
    migration_is_preview,
    new_migration_meta,
)
from pgext.seam.selects import (
    _SELECT_REWRITES,
    SelectParts,
    derived_select,
    install_select_rewrite,
    select_columns,
    select_leading_order,
    select_parts,
    select_querystring,
    select_results,
    select_results_are_plain,
)
from pgext.seam.tables import (
    bind_engine,
    bound_engine,
    column_attribute,
    column_call_chain,
    column_full_name,
    column_is_nullable,
    column_is_primary_key,
    column_is_secret,
    column_is_unique,
    column_name,
    column_params,
    column_table,
    foreign_key_target,
    mark_primary_key,
    primary_key,
    table_columns,
    table_engine,
    table_name,
    table_schema,
    table_source,
)
from pgext.seam.values import install_column_value_hooks
from pgext.seam.writes import (
    _INSERT_HOOKS,
    _INSERT_RESULT_HOOKS,
    _SAVE_HOOKS,
    install_insert_hook,
    install_insert_result_hook,
    install_insert_row_numbers,
    install_save_hook,
)

# The name it had before the seam became a package.
_install_insert_row_numbers = install_insert_row_numbers

__all__ = [
    "_ALTER_COLUMN_HOOKS",
    "_AUTO_MIGRATION_EXCLUDES",
    "_AUTO_MIGRATION_HOOKS",
    "_INDEX_DDL_HOOKS",
    "_INSERT_HOOKS",
    "_INSERT_RESULT_HOOKS",
    "_SAVE_HOOKS",
    "_SELECT_REWRITES",
    "SelectParts",
    "_getter",
    "_install_insert_row_numbers",
    "_wrap_property",
    "add_auto_migration_hook",
    "admin_page_append",
    "admin_read_only",
    "admin_table_config",
    "bind_engine",
    "bound_engine",
    "column_attribute",
    "column_call_chain",
    "column_full_name",
    "column_is_nullable",
    "column_is_primary_key",
    "column_is_secret",
    "column_is_unique",
    "column_name",
    "column_params",
    "column_table",
    "connection_socket",
    "crud_hooks",
    "derived_select",
    "foreign_key_target",
    "install_alter_column_hook",
    "install_column_value_hooks",
    "install_create_index_hook",
    "install_insert_hook",
    "install_insert_result_hook",
    "install_insert_row_numbers",
    "install_save_hook",
    "install_select_rewrite",
    "mark_primary_key",
    "migration_is_preview",
    "new_migration_meta",
    "primary_key",
    "run_crud_validators",
    "run_in_new_connection",
    "select_columns",
    "select_leading_order",
    "select_parts",
    "select_querystring",
    "select_results",
    "select_results_are_plain",
    "table_columns",
    "table_engine",
    "table_name",
    "table_schema",
    "table_source",
]
