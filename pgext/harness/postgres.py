"""A private PostgreSQL cluster in a temporary directory.

PostgreSQL refuses to run as root, so when the harness runs as root the server
process runs as the ``postgres`` OS user; the data directory is handed to that
user.  The cluster listens on 127.0.0.1 only, on a free port, with durability
switched off (it is thrown away).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgext.errors import ServerError
from pgext.harness.ports import free_port

SUPERUSER = "postgres"
DATABASE = "pgext"
BINDIR_ENV = "PGEXT_PG_BINDIR"

# What a user without a PostgreSQL can do (an installed pgext has no
# scripts/setup to point at).
_INSTALL_POSTGRES = (
    "Install PostgreSQL 15+ with PostGIS (Debian/Ubuntu: apt install "
    "postgresql postgresql-15-postgis-3; macOS: brew install postgresql "
    f"postgis; in a pgext checkout: scripts/setup), or set {BINDIR_ENV} to "
    "the folder holding initdb, or set PGEXT_POSTGRES_DSN to the DSN of a "
    "PostgreSQL with PostGIS that you run (docker compose: see pgext's "
    "docker-compose.yml)."
)

# Throwaway cluster: speed over durability.
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "listen_addresses": "127.0.0.1",
}


def find_bindir(version: str | None = None) -> Path:
    """The directory holding ``initdb``/``postgres`` (newest if several)."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        if not Path(override, "initdb").is_file():
            raise ServerError(
                f"{BINDIR_ENV}={override} has no initdb. {_INSTALL_POSTGRES}"
            )
        return Path(override)
    pattern = f"/usr/lib/postgresql/{version or '*'}/bin/initdb"
    found = sorted(glob.glob(pattern), key=lambda p: int(p.split("/")[4]))
    if not found:
        which = shutil.which("initdb")
        if which:
            return Path(which).parent
        raise ServerError(
            "no PostgreSQL server found on this machine (looked for "
            f"/usr/lib/postgresql/*/bin/initdb and initdb on PATH). "
            f"{_INSTALL_POSTGRES}"
        )
    return Path(found[-1]).parent


def postgis_installed(bindir: Path) -> bool:
    """True when the PostGIS extension files are present for this server."""
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return bool(sharedir) and Path(sharedir, "extension", "postgis.control").exists()


@dataclass
class LocalPostgres:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``)."""

    port: int = 0
    bindir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    # Created in the database at start; None: PostGIS when it is installed.
    extensions: tuple[str, ...] | None = None
    datadir: Path | None = None
    _root: Path | None = None
    _running: bool = False

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> LocalPostgres:
        self.bindir = self.bindir or find_bindir()
        self.port = self.port or free_port(self.host)
        self._root = Path(tempfile.mkdtemp(prefix="pgext-pg-"))
        self.datadir = self._root / "data"
        self._hand_to_server_user(self._root)
        self._run_as_server_user(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ]
        )
        self._write_settings()
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self._root / "server.log"))
        self._running = True
        self._psql("postgres", f"CREATE DATABASE {DATABASE}")
        wanted = self.extensions
        if wanted is None:
            wanted = ("postgis",) if postgis_installed(self.bindir) else ()
        for name in wanted:
            # Names come from the harness's own code, never from users.
            self._psql(DATABASE, f'CREATE EXTENSION IF NOT EXISTS "{name}"')
        return self

    def stop(self) -> None:
        if self._running:
            self._pg_ctl("stop", "-m", "immediate", "-w", check=False)
            self._running = False
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def restart(self, mode: str = "fast") -> None:
        """Restart the server on the same port (clients see a disconnect)."""
        # Without -l the restarted server would inherit our captured pipes and
        # the call would not return until the server stops.
        assert self._root is not None
        self._pg_ctl(
            "restart",
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            "-l",
            str(self._root / "server.log"),
        )

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need ----------------------------------------------------------

    @property
    def dsn(self) -> str:
        return f"postgres://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"

    def config(self) -> dict[str, Any]:
        """A Piccolo engine ``config`` for this server."""
        return {"dsn": self.dsn}

    def log_tail(self, lines: int = 40) -> str:
        if self._root is None:
            return ""
        log = self._root / "server.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def run_sql(self, sql: str, database: str = DATABASE) -> None:
        """Run ``sql`` through psql as the superuser (harness-made SQL only:
        it is not parameterised)."""
        self._psql(database, sql)

    # -- helpers ------------------------------------------------------------------

    def _write_settings(self) -> None:
        assert self.datadir is not None
        merged = {**_FAST_SETTINGS, "port": str(self.port), **self.settings}
        merged["unix_socket_directories"] = str(self._root)
        lines = [f"{key} = '{value}'" for key, value in merged.items()]
        with open(self.datadir / "postgresql.auto.conf", "a") as conf:
            conf.write("\n".join(lines) + "\n")

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        assert self.bindir is not None and self.datadir is not None
        self._run_as_server_user(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], check=check
        )

    def _psql(self, database: str, sql: str) -> None:
        assert self.bindir is not None
        self._run_as_server_user(
            [
                str(self.bindir / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ]
        )

    def _run_as_server_user(self, argv: list[str], check: bool = True) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        done = subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd="/"
        )
        if check and done.returncode != 0:
            raise ServerError(
                f"{' '.join(argv)} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}\n{self.log_tail()}"
            )

    @staticmethod
    def _hand_to_server_user(path: Path) -> None:
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise ServerError(
                "PostgreSQL refuses to run as root, and there is no OS user "
                f"{SUPERUSER!r} to run the throwaway cluster as: create it "
                "(useradd --system postgres), run as another user, or set "
                "PGEXT_POSTGRES_DSN to a server you run."
            ) from None
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, 0o700)
