"""pgext's build backend: setuptools, plus the admin's vendored front-end
libraries made ready before an sdist or a wheel is built.

The libraries come from the npm registry (``frontend/package-lock.json``) and
are copied into ``pgext/admin/static/vendor`` by ``frontend/build.mjs``.  The
sdist carries those copies, so a wheel built from it (``pip install`` of the
sdist on a user's machine) needs neither Node.js nor the network.  From a
checkout, the copies are (re)built here when they are missing or were made
from another lock file.  Editable installs serve the checkout's own copies,
which ``scripts/setup`` keeps current.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the other PEP 517 hooks)

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
VENDOR = ROOT / "pgext" / "admin" / "static" / "vendor"


def _vendor_is_current() -> bool:
    stamp = VENDOR / "versions.json"
    if not stamp.is_file():
        return False
    recorded = json.loads(stamp.read_text())
    if not all((VENDOR / name).is_file() for name in recorded.get("files", ())):
        return False
    lock = FRONTEND / "package-lock.json"
    if not lock.is_file():  # an sdist without the sources: trust its copies
        return True
    return bool(
        recorded.get("lock_sha256") == hashlib.sha256(lock.read_bytes()).hexdigest()
    )


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, cwd=FRONTEND, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"building pgext's admin assets: {' '.join(argv)} failed "
            f"({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )


def build_frontend() -> None:
    """Make ``pgext/admin/static/vendor`` current, or fail saying why."""
    if _vendor_is_current():
        return
    node, npm = shutil.which("node"), shutil.which("npm")
    if not FRONTEND.is_dir() or node is None or npm is None:
        raise RuntimeError(
            "pgext's admin assets (pgext/admin/static/vendor) are missing or "
            "stale, and building them needs Node.js and npm with the frontend/ "
            "folder of the source tree (Debian: apt install nodejs npm)"
        )
    _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"])
    _run([node, "build.mjs"])
    if not _vendor_is_current():
        raise RuntimeError("frontend/build.mjs ran but the admin assets are incomplete")


def build_sdist(
    sdist_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    build_frontend()
    return str(_setuptools.build_sdist(sdist_directory, config_settings))


def build_wheel(
    wheel_directory: str,
    config_settings: dict[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    build_frontend()
    # setuptools stages the package in build/lib and copies into it without
    # removing what is gone from the source: a module since deleted (or
    # turned into a package) would ship in the wheel beside its successor.
    shutil.rmtree(ROOT / "build" / "lib", ignore_errors=True)
    return str(
        _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    )
