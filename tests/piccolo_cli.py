"""Driving the real ``piccolo`` CLI in a subprocess, for a throwaway app
written into a temporary folder, whose piccolo_conf uses PgextEngine on the
server a test names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

APP_MODULE = """
import os

from piccolo.conf.apps import AppConfig

from {app}.tables import {tables}

APP_CONFIG = AppConfig(
    app_name="{app}",
    migrations_folder_path=os.path.join(
        os.path.dirname(__file__), "piccolo_migrations"
    ),
    table_classes=[{tables}],
)
"""

CONF = """
import json
import os

from piccolo.conf.apps import AppRegistry

from pgext.engine import PgextEngine

DB = PgextEngine(
    config=json.loads(os.environ["PGEXT_CLI_CONFIG"]), extensions={extensions!r}
)
APP_REGISTRY = AppRegistry(apps=["{app}.piccolo_app"])
"""


async def forget_migrations(connection: Any, app: str) -> None:
    """Remove what Piccolo recorded of ``app``'s migrations on the server
    (a test's throwaway app starts and ends with none)."""
    if await connection.fetchval("SELECT to_regclass('migration') IS NOT NULL"):
        await connection.execute("DELETE FROM migration WHERE app_name = $1", app)


class PiccoloApp:
    """An app ``name`` with ``tables`` (source of its tables.py, defining
    ``classes``) in ``root``; its engine creates ``extensions`` at start-up."""

    def __init__(
        self,
        root: Path,
        name: str,
        tables: str,
        classes: list[str],
        config: Any,
        extensions: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.name = name
        self.config = dict(config)
        package = root / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        self.write_tables(tables)
        (package / "piccolo_app.py").write_text(
            APP_MODULE.format(app=name, tables=", ".join(classes))
        )
        (root / f"{name}_conf.py").write_text(
            CONF.format(app=name, extensions=tuple(extensions))
        )

    def write_tables(self, tables: str) -> None:
        """Replace the source of the app's tables.py (the same classes)."""
        (self.root / self.name / "tables.py").write_text(tables)

    def migrations(self) -> list[Path]:
        folder = self.root / self.name / "piccolo_migrations"
        return sorted(folder.glob(f"{self.name}_*.py"))

    def run(self, *args: str) -> str:
        """``piccolo <args>``; fails the test on an error or traceback."""
        env = {
            **os.environ,
            "PICCOLO_CONF": f"{self.name}_conf",
            "PGEXT_CLI_CONFIG": json.dumps(self.config),
            "PYTHONPATH": os.pathsep.join([str(self.root), str(REPO)]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = subprocess.run(
            [sys.executable, "-c", "from piccolo.main import main; main()", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "Traceback" not in output, output
        return output
