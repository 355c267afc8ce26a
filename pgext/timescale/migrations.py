"""TimescaleDB declarations in Piccolo's auto migrations.

``piccolo migrations new <app> --auto`` keeps writing Piccolo's migration for
the tables; pgext then compares the app's declared TimescaleDB state with the
state stored by the newest pgext migration of that app and, when they differ,
writes a second migration file right after Piccolo's.  That file stores the
previous and the new state as plain data and runs with
``wrap_in_transaction=False``:

* it runs *after* the migration creating the tables (Piccolo runs raw steps
  before creating tables within one migration, piccolo #541);
* continuous aggregates can be created and refreshed (not possible inside a
  transaction); the other statements still run in transactions of their own;
* the SQL is worked out when the migration *runs*, from the server's version
  and licence, so one migration file fits TimescaleDB 2.12 to 2.2x;
* backwards runs the same planner from the new state to the previous one.

Continuous aggregates are hidden from Piccolo's differ: they are views.  The
hook is installed when :mod:`pgext.timescale` is imported (the app's table
module imports it to declare hypertables); see :mod:`pgext.seam`.
"""

from __future__ import annotations

from typing import Any

from pgext import seam
from pgext.engine_access import capabilities_of, engine_of
from pgext.migration_files import MigrationFile
from pgext.timescale.aggregates import is_aggregate
from pgext.timescale.apply import execute
from pgext.timescale.plan import State, check_changes, collect_state, empty_state, plan

STATE_NAME = "PGEXT_TIMESCALE_STATE"
PREVIOUS_NAME = "PGEXT_TIMESCALE_PREVIOUS"

TEMPLATE = '''\
"""TimescaleDB objects of app {app_name!r}, written by pgext.

The two states below are plain data; the SQL is worked out when the
migration runs, for the server's TimescaleDB version and licence.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from pgext.timescale.migrations import TimescaleMigration

ID = {migration_id!r}
VERSION = {version!r}
DESCRIPTION = {description!r}

{previous_name} = {previous}

{state_name} = {state}


async def forwards() -> MigrationManager:
    # Continuous aggregates cannot be created inside a transaction; pgext
    # wraps the other statements in transactions itself.
    manager = MigrationManager(
        migration_id=ID,
        app_name={app_name!r},
        description=DESCRIPTION,
        wrap_in_transaction=False,
    )
    migration = TimescaleMigration({previous_name}, {state_name})
    manager.add_raw(migration.forwards)
    manager.add_raw_backwards(migration.backwards)
    return manager
'''


class TimescaleMigration:
    """The runtime side of a pgext migration file."""

    def __init__(self, previous: State, target: State) -> None:
        self.previous = previous
        self.target = target

    async def _apply(self, source: State, target: State) -> None:
        engine = engine_of()
        caps = await capabilities_of(engine)
        await execute(plan(source, target, caps), engine)

    async def forwards(self) -> None:
        await self._apply(self.previous, self.target)

    async def backwards(self) -> None:
        await self._apply(self.target, self.previous)


MIGRATION_FILE = MigrationFile(TEMPLATE, STATE_NAME, PREVIOUS_NAME)
render_migration = MIGRATION_FILE.render


def previous_state(migrations_folder: str) -> State:
    """The state stored by the newest pgext migration in the folder."""
    state = MIGRATION_FILE.newest_state(migrations_folder)
    return empty_state() if state is None else state


async def write_timescale_migration(app_config: Any, description: str = "") -> Any:
    """Write a pgext migration for ``app_config`` when its declared state
    differs from the stored one; return Piccolo's ``NewMigrationMeta`` or
    None.  Called by the hook, usable directly too."""
    target = collect_state(app_config.table_classes)
    folder = app_config.resolved_migrations_folder_path
    previous = previous_state(folder)
    if _normalised(previous) == _normalised(target):
        return None
    check_changes(previous, target)
    meta = MIGRATION_FILE.write(
        app_config, description or "pgext timescale", previous, target
    )
    print(f"pgext: TimescaleDB migration {meta.migration_filename}")
    return meta


def _normalised(state: State) -> State:
    return {
        "hypertables": dict(state.get("hypertables", {})),
        "aggregates": dict(state.get("aggregates", {})),
    }


def install() -> None:
    """Hook pgext into ``piccolo migrations new --auto`` (idempotent)."""
    seam.add_auto_migration_hook(
        "timescale", write_timescale_migration, exclude=is_aggregate
    )
