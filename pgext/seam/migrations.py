"""Migrations: column ALTERs Piccolo ignores, and ``migrations new --auto``.

Two private places of Piccolo's migration machinery have no public hook:
``MigrationManager._run_alter_columns`` (a custom column's own parameters)
and the ``new`` command's module-level ``_create_new_migration`` and
``_generate_migration_meta`` (TimescaleDB's and Citus's own migration
files).  ``MigrationManager.preview`` is read here too.
"""

from __future__ import annotations

from typing import Any

from pgext.seam._patching import _replace, is_wrapped

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
    if is_wrapped(original):
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

    _replace(MigrationManager, "_run_alter_columns", _run_alter_columns, original)


def migration_is_preview(manager: Any) -> bool:
    """``MigrationManager.preview``: print SQL instead of running it."""
    return bool(manager.preview)


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
    if is_wrapped(current):
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

    _replace(new_module, "_create_new_migration", _create_new_migration, current)


def new_migration_meta(app_config: Any) -> Any:
    """``_generate_migration_meta`` of Piccolo's ``new`` command: a fresh
    ``NewMigrationMeta`` (migration_id, migration_filename, migration_path)."""
    import piccolo.apps.migrations.commands.new as new_module

    return new_module._generate_migration_meta(app_config=app_config)
