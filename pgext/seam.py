"""The one module that touches private Piccolo details.

Piccolo exposes most of what pgext needs publicly (Column subclasses,
QueryString, Where, Function, MigrationManager, create_pydantic_model).  The
few private attributes and methods pgext still relies on are reached only
through the functions below, so a Piccolo upgrade that renames one of them is
a change to this file alone.  Each function says which Piccolo detail it wraps.

Verified against piccolo 1.38.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from piccolo.columns import Column
    from piccolo.engine.postgres import PostgresEngine
    from piccolo.table import Table


# -- engine -------------------------------------------------------------------------


async def run_in_new_connection(
    engine: PostgresEngine, sql: str, args: Sequence[Any] = ()
) -> list[Any]:
    """``PostgresEngine._run_in_new_connection``: one query on a fresh
    connection, closed afterwards (used where no pool may exist yet)."""
    result: list[Any] = await engine._run_in_new_connection(sql, list(args))
    return result


# -- tables and columns ---------------------------------------------------------


def table_name(table: type[Table]) -> str:
    """``Table._meta.tablename`` (the unquoted SQL name)."""
    return str(table._meta.tablename)


def table_schema(table: type[Table]) -> str | None:
    """``Table._meta.schema``."""
    schema = table._meta.schema
    return str(schema) if schema else None


def table_columns(table: type[Table]) -> list[Column]:
    """``Table._meta.columns`` (all columns, primary key included)."""
    return list(table._meta.columns)


def primary_key(table: type[Table]) -> Column:
    """``Table._meta.primary_key``."""
    return table._meta.primary_key


def bind_engine(table: type[Table], engine: Any) -> None:
    """Point ``table`` at ``engine`` (``Table._meta.db``)."""
    table._meta.db = engine


def bound_engine(table: type[Table]) -> Any:
    """The engine bound to ``table``, or None (``Table._meta._db``): unlike
    :func:`table_engine` it does not look for piccolo_conf when unbound."""
    return table._meta._db


def table_engine(table: type[Table]) -> Any:
    """The engine ``table`` runs on (``Table._meta.db``)."""
    return table._meta.db


def column_name(column: Column) -> str:
    """``Column._meta.db_column_name`` (the unquoted SQL name)."""
    return str(column._meta.db_column_name)


def column_table(column: Column) -> type[Table]:
    """``Column._meta.table``: the table class the column belongs to."""
    return column._meta.table


def column_params(column: Column) -> dict[str, Any]:
    """``Column._meta.params``: what migrations serialise for the column."""
    params: dict[str, Any] = column._meta.params
    return params


def column_is_nullable(column: Column) -> bool:
    """``Column._meta.null``."""
    return bool(column._meta.null)


def column_full_name(column: Column, with_alias: bool = False) -> str:
    """``Column._meta.get_full_name``: ``"table$join"."col"`` for joins."""
    return str(column._meta.get_full_name(with_alias=with_alias))


def column_call_chain(column: Column) -> list[Column]:
    """``Column._meta.call_chain``: the foreign keys a joined column went
    through (empty for a column of the queried table itself)."""
    return list(column._meta.call_chain)


# -- postgis: per-column value hooks and migration ALTERs ------------------------------
#
# Piccolo has no per-column "to database" hook: ``convert_to_sql_value``
# (piccolo.utils.sql_values) is hard-coded and imported *by name* into the
# three modules that bind values: ``piccolo.table`` (INSERT / save),
# ``piccolo.query.mixins`` (UPDATE values) and ``piccolo.columns.combination``
# (WHERE).  ``install_column_value_hooks`` rebinds those three names to
# wrappers that first let a column convert the value itself, through
# ``pgext_write_value(value)`` (INSERT/UPDATE) or ``pgext_where_value(value)``
# (WHERE), when the column defines it.  Columns without those methods see
# Piccolo's behaviour unchanged.

_WRITE_HOOK = "pgext_write_value"
_WHERE_HOOK = "pgext_where_value"


def _value_hook_wrapper(original: Any, hook_name: str) -> Any:
    # Every bound value passes here: the hook is looked up once per column
    # class (a failed getattr on the instance costs an AttributeError each).
    hooks: dict[type, Any] = {}

    def convert_to_sql_value(value: Any, column: Column) -> Any:
        kind = type(column)
        try:
            hook = hooks[kind]
        except KeyError:
            hook = hooks.setdefault(kind, getattr(kind, hook_name, None))
        if hook is not None:
            if isinstance(value, list):
                return [
                    original(value=hook(column, item), column=column) for item in value
                ]
            value = hook(column, value)
        return original(value=value, column=column)

    convert_to_sql_value.__pgext_original__ = original  # type: ignore[attr-defined]
    return convert_to_sql_value


def install_column_value_hooks() -> None:
    """Rebind ``convert_to_sql_value`` where Piccolo binds values (idempotent)."""
    import piccolo.columns.combination as where_module
    import piccolo.query.mixins as update_module
    import piccolo.table as insert_module

    _install_insert_row_numbers()

    for module, hook_name in (
        (insert_module, _WRITE_HOOK),
        (update_module, _WRITE_HOOK),
        (where_module, _WHERE_HOOK),
    ):
        current = getattr(module, "convert_to_sql_value")  # noqa: B009
        if getattr(current, "__pgext_original__", None) is None:
            setattr(  # noqa: B010
                module, "convert_to_sql_value", _value_hook_wrapper(current, hook_name)
            )


# An INSERT of several rows builds every row's values in one go
# (``Insert.default_querystrings`` reads ``row.querystring`` of each added
# row), so a refused value does not know its row.  On such an error -- one
# with ``for_row`` and no row yet -- the wrapper finds the first row that
# fails on its own and re-raises the error naming it.  Only the failing path
# pays for the search.


def _getter(owner: type, name: str) -> Any:
    """The original function behind the property ``owner.name``."""
    getter = vars(owner)[name].fget
    return getattr(getter, "__pgext_original__", getter)


def _wrap_property(owner: type, name: str, wrapper: Any) -> None:
    """Replace the property ``owner.name`` by ``wrapper`` (once)."""
    if getattr(vars(owner)[name].fget, "__pgext_original__", None) is None:
        wrapper.__pgext_original__ = _getter(owner, name)
        setattr(owner, name, property(wrapper))


#
# The same wrapper first runs the registered insert hooks: ``hook(table,
# rows) -> (undo callable) | None`` sees all of an INSERT's row objects
# before Piccolo builds their values one by one, so it can prepare a whole
# column at once (pgext.postgis checks and encodes every geometry of the
# INSERT in a few vectorised shapely calls); ``undo`` runs once the values are
# built.

_INSERT_HOOKS: list[Any] = []


def install_insert_hook(hook: Any) -> None:
    """Register ``hook(table, rows)`` (idempotent)."""
    if hook not in _INSERT_HOOKS:
        _INSERT_HOOKS.append(hook)
    _install_insert_row_numbers()


def _install_insert_row_numbers() -> None:
    from piccolo.query.methods.insert import Insert

    getter = _getter(Insert, "default_querystrings")

    def build(self: Any) -> Any:
        try:
            return getter(self)
        except Exception as error:
            if getattr(error, "row", 0) is not None or not hasattr(error, "for_row"):
                raise
            for position, row in enumerate(self.add_delegate._add):
                try:
                    row.querystring  # noqa: B018 - builds (and checks) the values
                except type(error) as found:
                    raise found.for_row(position) from None
            raise

    def default_querystrings(self: Any) -> Any:
        if not _INSERT_HOOKS:
            return build(self)
        undo = []
        try:
            for hook in _INSERT_HOOKS:
                done = hook(self.table, self.add_delegate._add)
                if done is not None:
                    undo.append(done)
            return build(self)
        finally:
            for done in reversed(undo):
                done()

    _wrap_property(Insert, "default_querystrings", default_querystrings)


def column_attribute(column: Column) -> str:
    """``Column._meta.name``: the attribute holding the column's value on a
    row object (may differ from the SQL name)."""
    return str(column._meta.name)


# ``MigrationManager._run_alter_columns`` acts only on the parameters Piccolo
# knows (null, length, index, default ...); a change of a custom column's own
# parameters (a geometry's srid) is recorded in the migration but does
# nothing.  ``install_alter_column_hook`` wraps that private method so each
# hook sees every recorded ``AlterColumn`` first and can run its own DDL in the
# migration's transaction.  A hook is ``async (manager, alter_column,
# backwards) -> None | (async () -> None)``: what it returns runs after
# Piccolo's own ALTERs (Piccolo drops a default when a column's class
# changes and restores it only if the default changed too); ``alter_column``
# has the public fields ``tablename``,
# ``schema``, ``column_name``, ``db_column_name``, ``params``, ``old_params``,
# ``column_class`` and ``old_column_class``.

_ALTER_COLUMN_HOOKS: list[Any] = []


def install_alter_column_hook(hook: Any) -> None:
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    if hook not in _ALTER_COLUMN_HOOKS:
        _ALTER_COLUMN_HOOKS.append(hook)
    original = MigrationManager._run_alter_columns
    if getattr(original, "__pgext_original__", None) is not None:
        return

    async def _run_alter_columns(self: Any, backwards: bool = False) -> None:
        after = []
        for alter_column in list(self.alter_columns.alter_columns):
            for registered in _ALTER_COLUMN_HOOKS:
                then = await registered(self, alter_column, backwards)
                if then is not None:
                    after.append(then)
        await original(self, backwards=backwards)
        for then in after:
            await then()

    _run_alter_columns.__pgext_original__ = original  # type: ignore[attr-defined]
    setattr(MigrationManager, "_run_alter_columns", _run_alter_columns)  # noqa: B010


# -- postgis: nearest-first queries and extra index DDL ------------------------------
#
# Exact geodesic KNN needs the LIMIT of the query it orders (see
# ``pgext.postgis.nearest``), which an ``order_by`` expression never sees.
# ``install_select_rewrite`` wraps ``Select.default_querystrings`` (which
# ``Objects`` and ``first()`` go through too) so a registered hook may return
# a replacement ``Select`` to compile instead; the hooks use only the helpers
# below to read and derive queries.

_SELECT_REWRITES: list[Any] = []


def install_select_rewrite(hook: Any) -> None:
    """Register ``hook(select) -> Select | None`` (idempotent)."""
    from piccolo.query.methods.select import Select

    if hook not in _SELECT_REWRITES:
        _SELECT_REWRITES.append(hook)
    getter = _getter(Select, "default_querystrings")

    def default_querystrings(self: Any) -> Any:
        for registered in _SELECT_REWRITES:
            replacement = registered(self)
            if replacement is not None:
                return getter(replacement)
        return getter(self)

    _wrap_property(Select, "default_querystrings", default_querystrings)


def select_leading_order(select: Any) -> Any:
    """The first expression of a limited ``select``'s ORDER BY, or None
    (no limit, no order): the cheap look every select gets before a hook
    reads :func:`select_parts`."""
    if select.limit_delegate._limit is None:
        return None
    items = select.order_by_delegate._order_by.order_by_items
    if not items or not items[0].columns:
        return None
    return items[0].columns[0]


@dataclass(frozen=True)
class SelectParts:
    """What a rewrite hook may read of a ``Select``."""

    order_by: list[tuple[tuple[Any, ...], bool]]  # (expressions, ascending)
    limit: int | None
    offset: int | None
    plain: bool  # no DISTINCT, GROUP BY, HAVING or row locks


def select_parts(select: Any) -> SelectParts:
    limit = select.limit_delegate._limit
    offset = select.offset_delegate._offset
    return SelectParts(
        order_by=[
            (tuple(item.columns), bool(item.ascending))
            for item in select.order_by_delegate._order_by.order_by_items
        ],
        limit=None if limit is None else int(limit.number),
        offset=None if offset is None else int(offset.number),
        plain=not (
            select.distinct_delegate._distinct.enabled
            or select.group_by_delegate._group_by
            or select.having_delegate._where
            or select.lock_rows_delegate._lock_rows
        ),
    )


def select_columns(select: Any) -> list[Any]:
    """What a ``Select`` selects (``columns_delegate.selected_columns``):
    columns and expressions such as a continuous aggregate's time bucket."""
    return list(select.columns_delegate.selected_columns)


def derived_select(
    select: Any,
    *,
    where: Any = None,
    columns: Sequence[Any] | None = None,
    order_by: Any = None,
    limit: int | None = None,
) -> Any:
    """A new ``Select`` sharing ``select``'s delegates, with ``where`` added
    to its filter and, when given, its own columns, order and limit (then
    without offset and row locks: a subquery).  ``select`` is not changed."""
    from piccolo.query.methods.select import Select
    from piccolo.query.mixins import (
        ColumnsDelegate,
        LimitDelegate,
        LockRowsDelegate,
        OffsetDelegate,
        OrderByDelegate,
        WhereDelegate,
    )

    derived = Select(table=select.table)
    for name in Select.__slots__:
        if name.endswith("_delegate") or name == "exclude_secrets":
            setattr(derived, name, getattr(select, name))
    if where is not None:
        derived.where_delegate = WhereDelegate()
        if select.where_delegate._where is not None:
            derived.where_delegate.where(select.where_delegate._where)
        derived.where_delegate.where(where)
    if columns is not None:
        derived.columns_delegate = ColumnsDelegate()
        derived.columns_delegate.columns(*columns)
        derived.order_by_delegate = OrderByDelegate()
        derived.order_by_delegate.order_by(order_by)
        derived.limit_delegate = LimitDelegate()
        if limit is not None:
            derived.limit_delegate.limit(limit)
        derived.offset_delegate = OffsetDelegate()
        derived.lock_rows_delegate = LockRowsDelegate()
    return derived


def select_querystring(select: Any) -> Any:
    """The compiled ``QueryString`` of ``select``, without rewrites."""
    from piccolo.query.methods.select import Select

    return _getter(Select, "default_querystrings")(select)[0]


async def select_results(select: Any, records: list[Any]) -> Any:
    """What ``await select`` returns for ``records`` fetched with its SQL:
    Piccolo's own result processing (``Query._process_results``: the
    engine's row dicts, then output options), then its success callbacks."""
    from piccolo.query.mixins import CallbackType

    results = await select._process_results(records)
    return await select.callback_delegate.invoke(results, kind=CallbackType.success)


def select_results_are_plain(select: Any) -> bool:
    """Whether :func:`select_results` of ``select`` is only the engine's row
    dicts: no output options that reshape rows (objects, JSON loading), no
    M2M columns to splice, no success callbacks.  Decided once for a
    prepared select, which then skips Piccolo's per-run processing."""
    from piccolo.columns.m2m import M2MSelect
    from piccolo.query.mixins import CallbackType

    output = select.output_delegate._output
    if output.as_objects or output.load_json or output.nested:
        return False
    if any(
        isinstance(column, M2MSelect)
        for column in select.columns_delegate.selected_columns
    ):
        return False
    return not select.callback_delegate._callbacks[CallbackType.success]


# ``CreateIndex`` (used by ``create_table`` and by migrations that add a table
# or a column) emits one index per indexed column.  A hook registered here
# may add statements after it: ``hook(table, columns, if_not_exists) ->
# list[str]`` (pgext.postgis adds the ``::geography`` expression index of
# lon/lat geometry columns).

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


def migration_is_preview(manager: Any) -> bool:
    """``MigrationManager.preview``: print SQL instead of running it."""
    return bool(manager.preview)


# -- pubsub ---------------------------------------------------------------------------
# (asyncpg, not Piccolo: its connection exposes no socket and no keepalive option.)


def connection_socket(connection: Any) -> Any:
    """The socket under an asyncpg connection (``Connection._transport``),
    or None; pub/sub sets TCP keepalive on its listener connection."""
    transport = getattr(connection, "_transport", None)
    if transport is None:
        return None
    return transport.get_extra_info("socket")


# -- timescale: aggregate keys and the auto-migration hook -----------------------------


def column_is_primary_key(column: Column) -> bool:
    """``Column._meta.primary_key``."""
    return bool(column._meta.primary_key)


def mark_primary_key(column: Column) -> None:
    """Set ``Column._meta.primary_key`` before the table class is built, so
    Piccolo adds no ``id`` column (continuous aggregates have none)."""
    column._meta.primary_key = True


# ``piccolo migrations new --auto`` has no extension point.  Its ``new()``
# looks up the module-level ``_create_new_migration`` of
# ``piccolo.apps.migrations.commands.new`` each time it runs, so pgext
# replaces that one name with a wrapper that (1) hides tables the registered
# filters exclude (continuous aggregates are views, not tables, for Piccolo's
# differ), (2) runs Piccolo's generation, then (3) lets each registered hook
# write its own migration file *after* Piccolo's (its raw steps must run after
# the tables exist, and Piccolo runs raw steps first within one migration).
# "No changes" is reported only when neither Piccolo nor a hook wrote a file.
# A hook is ``async (app_config, description) -> NewMigrationMeta | None``.

_AUTO_MIGRATION_HOOKS: dict[str, Any] = {}
_AUTO_MIGRATION_EXCLUDES: dict[str, Any] = {}


def add_auto_migration_hook(name: str, hook: Any, exclude: Any = None) -> None:
    """Register ``hook`` (and an optional ``exclude(table_class) -> bool``)."""
    import piccolo.apps.migrations.commands.new as new_module

    _AUTO_MIGRATION_HOOKS[name] = hook
    if exclude is not None:
        _AUTO_MIGRATION_EXCLUDES[name] = exclude
    current = new_module._create_new_migration
    if getattr(current, "__pgext_original__", None) is not None:
        return

    async def _create_new_migration(
        app_config: Any,
        auto: bool = False,
        description: str = "",
        auto_input: str | None = None,
    ) -> Any:
        if not auto:
            return await current(
                app_config=app_config,
                auto=auto,
                description=description,
                auto_input=auto_input,
            )
        kept = list(app_config.table_classes)
        app_config.table_classes = [
            table
            for table in kept
            if not any(test(table) for test in _AUTO_MIGRATION_EXCLUDES.values())
        ]
        meta = None
        try:
            meta = await current(
                app_config=app_config,
                auto=auto,
                description=description,
                auto_input=auto_input,
            )
        except new_module.NoChanges:
            meta = None
        finally:
            app_config.table_classes = kept
        for registered in list(_AUTO_MIGRATION_HOOKS.values()):
            written = await registered(app_config, description)
            meta = meta or written
        if meta is None:
            raise new_module.NoChanges()
        return meta

    _create_new_migration.__pgext_original__ = current  # type: ignore[attr-defined]
    setattr(new_module, "_create_new_migration", _create_new_migration)  # noqa: B010


def new_migration_meta(app_config: Any) -> Any:
    """``_generate_migration_meta`` of Piccolo's ``new`` command: a fresh
    ``NewMigrationMeta`` (migration_id, migration_filename, migration_path)."""
    import piccolo.apps.migrations.commands.new as new_module

    return new_module._generate_migration_meta(app_config=app_config)


# -- admin widgets -------------------------------------------------------------


def column_is_secret(column: Column) -> bool:
    """``Column._meta.secret`` (columns declared ``secret=True``, which
    piccolo_api leaves out of its responses)."""
    return bool(column._meta.secret)


# -- playground ------------------------------------------------------------------


def table_source(table: type[Table]) -> str:
    """``Table._table_str(abbreviated=True)``: the table as the Python class
    that declares it (what Piccolo's own playground prints)."""
    return str(table._table_str(abbreviated=True))


# -- Piccolo Admin / piccolo_api ----------------------------------------------------
# The admin's per-table rules are plain attributes of ``AdminRouter`` and
# ``PiccoloCRUD`` but not documented API; the widgets apply them to their own
# writes, so they are read here only.  Verified against piccolo_admin 1.14 and
# piccolo_api 1.11.


def admin_read_only(admin: Any) -> bool:
    """``AdminRouter.read_only`` (``create_admin(read_only=True)``)."""
    return bool(admin.read_only)


def admin_table_config(admin: Any, table: type[Table]) -> Any | None:
    """The ``TableConfig`` the admin holds for ``table``
    (``AdminRouter.table_config_map``, keyed by table name), or None when the
    admin does not serve the table."""
    config = admin.table_config_map.get(table_name(table))
    return config


def crud_hooks(crud: Any) -> dict[Any, list[Any]]:
    """``PiccoloCRUD._hook_map``: the hooks grouped by type exactly as the
    admin's CRUD endpoints run them."""
    hooks: dict[Any, list[Any]] | None = crud._hook_map
    return hooks or {}


async def run_crud_validators(crud: Any, endpoint: str, request: Any) -> None:
    """Run ``crud``'s validators for ``endpoint`` (``post_single``,
    ``patch_single``, ``delete_single``, ``get_single``, ``get_all``) the way
    piccolo_api does: its ``apply_validators`` picks the list by the wrapped
    method's ``__name__``, adds ``every``, passes ``extra_context`` and turns
    any other exception into a 400 "Validation error"."""
    from piccolo_api.crud.validators import apply_validators

    async def endpoint_stub(crud: Any, request: Any) -> None:
        return None

    endpoint_stub.__name__ = endpoint
    checked = apply_validators(endpoint_stub)  # type: ignore[no-untyped-call]
    await checked(crud, request=request)


def admin_page_append(admin: Any, html: str) -> bool:
    """Add ``html`` (script tags) at the end of the page Piccolo Admin serves
    at its root: ``AdminRouter.template``, the ``index.html`` text its
    ``get_root`` returns.  Piccolo Admin has no hook for extra scripts; this
    is the patch point a contribution would turn into a ``create_admin``
    parameter.  Idempotent; False when the page has no ``</body>``.
    Verified against piccolo_admin 1.14."""
    template = str(admin.template)
    if html in template:
        return True
    if "</body>" not in template:
        return False
    admin.template = template.replace("</body>", f"{html}</body>", 1)
    return True


# -- citus: model rules, ordered multi-row inserts, save() -----------------------------


def column_is_unique(column: Column) -> bool:
    """``Column._meta.unique``."""
    return bool(column._meta.unique)


def foreign_key_target(column: Any) -> type[Table]:
    """``ForeignKey._foreign_key_meta.resolved_references``: the table a
    ForeignKey points at (lazy references resolved)."""
    target: type[Table] = column._foreign_key_meta.resolved_references
    return target


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
    if getattr(original, "__pgext_original__", None) is not None:
        return

    def _raw_response_callback(self: Any, results: list[Any]) -> None:
        for registered in _INSERT_RESULT_HOOKS:
            reordered = registered(self.table, list(self.add_delegate._add), results)
            if reordered is not None:
                results = reordered
        original(self, results)

    _raw_response_callback.__pgext_original__ = original  # type: ignore[attr-defined]
    setattr(Insert, "_raw_response_callback", _raw_response_callback)  # noqa: B010


# ``Table.save()`` on a stored row updates every column but the primary key.
# A registered hook may narrow that: ``hook(instance, columns) -> (columns,
# where) | None``; ``where`` (or None) is added to the UPDATE's filter.

_SAVE_HOOKS: list[Any] = []


def install_save_hook(hook: Any) -> None:
    from piccolo.table import Table

    if hook not in _SAVE_HOOKS:
        _SAVE_HOOKS.append(hook)
    original = Table.save
    if getattr(original, "__pgext_original__", None) is not None:
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

    save.__pgext_original__ = original  # type: ignore[attr-defined]
    setattr(Table, "save", save)  # noqa: B010
