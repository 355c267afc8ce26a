"""A native TimescaleDB: a private PostgreSQL cluster with the extension
preloaded, in the community or the Apache-only licence.

Native TimescaleDB is what users run: background workers execute policies on
their schedule, every client has its own session.  The build is not in
Debian's packages; ``scripts/setup`` installs it when the project's shared
folder holds one for this PostgreSQL.  Where it is absent, the harness falls
back to the PGlite TimescaleDB (see :func:`start_timescale`).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Protocol

from pgext.errors import ServerError
from pgext.harness.postgres import LocalPostgres, find_bindir
from pgext.harness.timescale import PgliteTimescale

# Which TimescaleDB the harness starts: native, pglite, or auto (native when
# installed for this PostgreSQL, else PGlite).
ENGINE_ENV = "PGEXT_TIMESCALE_ENGINE"
ENGINES = ("auto", "native", "pglite")

LICENSES = ("timescale", "apache")

# Every database with the extension keeps a scheduler worker and every
# running job takes one more; TimescaleDB's default of 8 starves jobs once a
# few databases have the extension.  max_worker_processes must cover them
# plus the launcher and PostgreSQL's own parallel workers.
BACKGROUND_WORKERS = 16
WORKER_PROCESSES = 28


class TimescaleServer(Protocol):
    """What the harness needs from either TimescaleDB engine."""

    @property
    def dsn(self) -> str: ...

    def config(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...


def _pg_config(bindir: Path, flag: str) -> str:
    done = subprocess.run(
        [str(bindir / "pg_config"), flag], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def native_version(bindir: Path | None = None) -> str | None:
    """The native TimescaleDB version installed for this PostgreSQL, or None."""
    try:
        bindir = bindir or find_bindir()
    except ServerError:
        return None
    sharedir, libdir = (
        _pg_config(bindir, "--sharedir"),
        _pg_config(bindir, "--pkglibdir"),
    )
    if not sharedir or not libdir or not Path(libdir, "timescaledb.so").exists():
        return None
    control = Path(sharedir, "extension", "timescaledb.control")
    if not control.exists():
        return None
    found = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
    return found.group(1) if found else None


def native_settings(license: str = "timescale") -> dict[str, str]:
    """Server settings of a cluster that runs TimescaleDB under ``license``."""
    if license not in LICENSES:
        raise ServerError(f"licence must be one of {LICENSES}, got {license!r}")
    return {
        "shared_preload_libraries": "timescaledb",
        "timescaledb.license": license,
        "timescaledb.telemetry_level": "off",
        "timescaledb.max_background_workers": str(BACKGROUND_WORKERS),
        "max_worker_processes": str(WORKER_PROCESSES),
    }


def start_native(license: str = "timescale") -> LocalPostgres:
    """A throwaway cluster whose database has TimescaleDB."""
    if native_version() is None:
        raise ServerError(
            "no native TimescaleDB is installed for this PostgreSQL; run "
            "scripts/setup (it installs the build from ../shared/timescaledb "
            f"when there is one) or set {ENGINE_ENV}=pglite"
        )
    return LocalPostgres(
        settings=native_settings(license), extensions=("timescaledb",)
    ).start()


def chosen_engine() -> str:
    engine = os.environ.get(ENGINE_ENV, "auto") or "auto"
    if engine not in ENGINES:
        raise ServerError(f"{ENGINE_ENV} must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        return "native" if native_version() else "pglite"
    return engine


def start_timescale() -> tuple[TimescaleServer, bool]:
    """The harness's TimescaleDB, and whether its clients share one session
    (PGlite) -- native by default where it is installed."""
    if chosen_engine() == "native":
        return start_native(), False
    return PgliteTimescale().start(), True
