"""pgext's own migration files: the declared state of one extension room,
stored as plain data in a Piccolo migration module that pgext writes right
after Piccolo's, and read back as the starting point of the next one.

Each room brings its template (what runs the states) and the names the
states are stored under; writing and reading them is the same for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import black
from piccolo import __VERSION__ as PICCOLO_VERSION
from piccolo.apps.migrations.commands.base import BaseMigrationManager

from pgext import seam


def sorted_state(value: Any) -> Any:
    """Dicts with sorted keys, so equal states print (and compare) the same."""
    if isinstance(value, dict):
        return {key: sorted_state(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_state(item) for item in value]
    return value


@dataclass(frozen=True)
class MigrationFile:
    """The kind of migration file one room writes.

    ``template`` is a ``str.format`` template with the fields ``app_name``,
    ``migration_id``, ``version``, ``description``, ``previous_name``,
    ``state_name``, ``previous`` and ``state``.
    """

    template: str
    state_name: str
    previous_name: str

    def render(
        self,
        migration_id: str,
        app_name: str,
        description: str,
        previous: dict[str, Any],
        target: dict[str, Any],
    ) -> str:
        """The file's text, from the state before it to the state it makes."""
        text = self.template.format(
            app_name=app_name,
            migration_id=migration_id,
            version=PICCOLO_VERSION,
            description=description,
            previous_name=self.previous_name,
            state_name=self.state_name,
            previous=repr(sorted_state(previous)),
            state=repr(sorted_state(target)),
        )
        compile(text, "<pgext migration>", "exec")  # never write a broken file
        # Formatted like Piccolo's own migration files.
        formatted: str = black.format_str(text, mode=black.FileMode(line_length=82))
        return formatted

    def write(
        self,
        app_config: Any,
        description: str,
        previous: dict[str, Any],
        target: dict[str, Any],
    ) -> Any:
        """Write the next migration file of ``app_config``; return Piccolo's
        ``NewMigrationMeta`` for it."""
        meta = seam.new_migration_meta(app_config)
        text = self.render(
            meta.migration_id, app_config.app_name, description, previous, target
        )
        with open(meta.migration_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return meta

    def newest_state(self, migrations_folder: str) -> dict[str, Any] | None:
        """The state stored by the newest such file in the folder (None when
        there is none)."""
        modules = BaseMigrationManager().get_migration_modules(migrations_folder)
        for migration_id in sorted(modules, reverse=True):
            state = getattr(modules[migration_id], self.state_name, None)
            if isinstance(state, dict):
                return state
        return None
