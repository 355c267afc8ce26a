"""Citus declarations in Piccolo's auto migrations.

``piccolo migrations new <app> --auto`` keeps writing Piccolo's migration for
the tables; pgext then compares the app's declared Citus state with the state
stored by the newest pgext Citus migration of that app and, when they
differ, writes a second migration file right after Piccolo's (Piccolo runs
raw steps before it creates tables within one migration, piccolo #541, and a
table must exist before it is distributed).  The file stores both states as
plain data; forwards plans from the previous state to the new one, backwards
the reverse, when the migration runs.
"""

from __future__ import annotations

from typing import Any

from pgext import seam
from pgext.citus.apply import execute
from pgext.citus.plan import State, collect_state, empty_state, plan
from pgext.engine_access import engine_of
from pgext.migration_files import MigrationFile, sorted_state

STATE_NAME = "PGEXT_CITUS_STATE"
PREVIOUS_NAME = "PGEXT_CITUS_PREVIOUS"

TEMPLATE = '''\
"""Citus tables of app {app_name!r}, written by pgext.

The two states below are plain data; the SQL is worked out when the
migration runs.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from pgext.citus.migrations import CitusMigration

ID = {migration_id!r}
VERSION = {version!r}
DESCRIPTION = {description!r}

{previous_name} = {previous}

{state_name} = {state}


async def forwards() -> MigrationManager:
    manager = MigrationManager(
        migration_id=ID, app_name={app_name!r}, description=DESCRIPTION
    )
    migration = CitusMigration({previous_name}, {state_name})
    manager.add_raw(migration.forwards)
    manager.add_raw_backwards(migration.backwards)
    return manager
'''


class CitusMigration:
    """The runtime side of a pgext Citus migration file."""

    def __init__(self, previous: State, target: State) -> None:
        self.previous = previous
        self.target = target

    async def forwards(self) -> None:
        await execute(plan(self.previous, self.target), engine_of())

    async def backwards(self) -> None:
        await execute(plan(self.target, self.previous), engine_of())


MIGRATION_FILE = MigrationFile(TEMPLATE, STATE_NAME, PREVIOUS_NAME)
render_migration = MIGRATION_FILE.render


def previous_state(migrations_folder: str) -> State:
    """The state stored by the newest pgext Citus migration in the folder."""
    state = MIGRATION_FILE.newest_state(migrations_folder)
    if state is None:
        return empty_state()
    # Files written before tenant schemas were declarable have none.
    return {**empty_state(), **state}


async def write_citus_migration(app_config: Any, description: str = "") -> Any:
    """Write a pgext Citus migration for ``app_config`` when its declared
    state differs from the stored one; return Piccolo's ``NewMigrationMeta``
    or None."""
    target = collect_state(app_config.table_classes)
    previous = previous_state(app_config.resolved_migrations_folder_path)
    if sorted_state(previous) == sorted_state(target):
        return None
    meta = MIGRATION_FILE.write(
        app_config, description or "pgext citus", previous, target
    )
    print(f"pgext: Citus migration {meta.migration_filename}")
    return meta


def install() -> None:
    """Hook pgext into ``piccolo migrations new --auto`` (idempotent)."""
    seam.add_auto_migration_hook("citus", write_citus_migration)
