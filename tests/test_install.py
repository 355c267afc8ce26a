"""pgext as users get it: the sdist and the wheel are built from the
checkout, the wheel is installed into a fresh virtualenv in a temporary folder
outside the checkout, and used there (``tests/install_check.py``): every
module imported, the README's quick-start run, the widgets served and every
script, stylesheet and image their pages reference fetched, and
``pgext-playground --run-examples`` run.  Then the same (without the
playground) for a wheel built from the sdist.

Honest and fast:

- the virtualenv is made without ``--system-site-packages``, and the check
  asserts that neither the checkout nor an editable-install finder is on its
  path;
- pip resolves the wheel's declared dependencies for real (a dependency
  missing from ``pyproject.toml`` fails here), but offline, from a wheelhouse
  kept in ``.venv`` and filled once per ``constraints.txt`` from pip's cache;
- the builds use the ``.venv``'s pinned setuptools (``--no-isolation``)
  instead of downloading one per build;
- the servers are this test session's (``PGEXT_*_DSN`` for the playground).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

import pgext

pytestmark = [pytest.mark.postgres, pytest.mark.timescale]

ROOT = Path(__file__).resolve().parents[1]
CHECK = Path(__file__).with_name("install_check.py")
VENV_BIN = Path(sys.executable).parent
EXTRAS = "[admin,playground]"


def _run(argv: list[Any], timeout: float = 300, **kwargs: Any) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{output[-6000:]}"
    return output


def _build(
    source: Path, out: Path, *kinds: str, env: dict[str, str] | None = None
) -> None:
    argv = [sys.executable, "-m", "build", "--no-isolation", *kinds, "-o", out, source]
    _run(argv, env=env)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def _expected_package_files() -> set[str]:
    """Every tracked file under pgext/, plus the vendored front-end files
    (built, not tracked) that the build recorded in versions.json."""
    tracked = _run(["git", "-C", ROOT, "ls-files", "pgext"]).split()
    vendor = ROOT / "pgext" / "admin" / "static" / "vendor"
    built = json.loads((vendor / "versions.json").read_text())["files"]
    prefix = "pgext/admin/static/vendor/"
    return {*tracked, prefix + "versions.json", *(prefix + name for name in built)}


def _wheelhouse(wheel: Path) -> Path:
    """The wheels of every dependency of ``wheel[admin,playground]`` at the
    pinned versions; made once per constraints.txt (pip's cache makes the
    first time quick after scripts/setup)."""
    key = hashlib.sha256(
        (ROOT / "constraints.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()[:16]
    house = ROOT / ".venv" / "pgext-wheelhouse" / key
    if not (house / "complete").exists():
        shutil.rmtree(house, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "wheel", "-q", "-c", ROOT / "constraints.txt", "-w", house,
              f"{wheel}{EXTRAS}"], timeout=600)  # fmt: skip
        for own in house.glob("piccolo_pgext-*.whl"):
            own.unlink()
        (house / "complete").write_text("")
    return house


def _clean_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell in ``folder``: nothing pointing
    at the checkout or its virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PICCOLO_CONF", "VIRTUAL_ENV")
        and not k.startswith("PYTEST")
    }
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env["PATH"] = os.pathsep.join([str(folder / "venv" / "bin"), *paths])
    env["HOME"] = env.get("HOME", str(folder))
    env["IPYTHONDIR"] = str(folder / "ipython")
    return {**env, **extra}


def _check(folder: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    script = folder / "install_check.py"
    shutil.copy(CHECK, script)
    output = _run(
        [folder / "venv" / "bin" / "python", script, *args], env=env, cwd=folder
    )
    marker = "install-check: "
    line = next(x for x in output.splitlines() if x.startswith(marker))
    found: dict[str, Any] = json.loads(line.removeprefix(marker))
    # The installed copy ran, not the checkout.
    assert Path(found["pgext_file"]).is_relative_to(folder / "venv"), found
    assert not any(str(ROOT) in entry for entry in found["sys_path"]), found["sys_path"]
    assert found["editable_finders"] == []
    assert found["version"] == found["dist_version"] == pgext.__version__
    # Every module of the package imported.
    expected = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                for p in (ROOT / "pgext").rglob("*.py")}  # fmt: skip
    expected = {m.removesuffix(".__init__") for m in expected}
    assert set(found["modules"]) == expected
    # The widget pages and every asset they reference answer 200.
    widgets = found["widgets"]
    assert len(widgets["pages"]) >= 3, widgets  # index, a map, a chart
    assert {u: s for u, s in widgets["statuses"].items() if s != 200} == {}
    fetched = {u.split("/static/", 1)[-1] for u in widgets["assets"]}
    for needed in (
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/images/layers.png",
        "vendor/geoman/leaflet-geoman.min.js",
        "vendor/uplot/uPlot.iife.min.js",
        "vendor/world-atlas/countries-50m.json",
        "vendor/topojson-client/topojson-client.min.js",
        "map.js",
        "map-editor.js",
        "series.js",
        "widgets.css",
        "form.js",
        "form.css",
    ):
        assert needed in fetched, sorted(fetched)
    return found


def _install(folder: Path, wheel: Path, house: Path, *options: str) -> None:
    # pip of the checkout's venv drives the new interpreter (--python): no
    # second pip needs installing into the new venv.  --isolated: no pip
    # configuration of this machine takes part; --no-compile: byte-compiling
    # ~60 packages would double the time, and Python compiles what it imports.
    python = folder / "venv" / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check",
         "--python", python, "install", "-q", "--no-compile", "--no-index",
         "--find-links", house,
         "-c", ROOT / "constraints.txt", *options, f"{wheel}{EXTRAS}"],
        env=_clean_env(folder),
        cwd=folder,
    )  # fmt: skip


def test_built_package_works_outside_the_checkout(
    tmp_path: Path, postgres_dsn: str, timescale_config: dict[str, Any]
) -> None:
    dist = tmp_path / "dist"
    _build(ROOT, dist, "--sdist", "--wheel")
    sdist, wheel = _one(dist, "*.tar.gz"), _one(dist, "*.whl")
    assert wheel.name == f"piccolo_pgext-{pgext.__version__}-py3-none-any.whl"
    # The wheel holds exactly the package: every tracked file and the built
    # assets, nothing stale from an earlier build.
    package_files = {n for n in _wheel_names(wheel) if n.startswith("pgext/")}
    assert package_files == _expected_package_files()
    _run([VENV_BIN / "twine", "check", "--strict", sdist, wheel])
    _run([VENV_BIN / "check-wheel-contents", wheel])

    # The wheel, in a fresh venv outside the checkout.
    user = tmp_path / "user"
    user.mkdir()
    venv.EnvBuilder(with_pip=False).create(user / "venv")
    _install(user, wheel, _wheelhouse(wheel))
    env = _clean_env(user, PGEXT_POSTGRES_DSN=postgres_dsn)
    found = _check(user, env)
    assert "QuickCafe" in found["quick_start"]

    shared = "1" if "ssl" in timescale_config else "0"
    playground_env = {
        **env,
        "PGEXT_TIMESCALE_DSN": str(timescale_config["dsn"]),
        "PGEXT_TIMESCALE_SHARED_SESSION": shared,
    }
    output = _run(
        [
            user / "venv" / "bin" / "pgext-playground",
            "--run-examples",
            "--size",
            "tiny",
        ],
        env=playground_env,
        cwd=user,
    )
    ran = "examples of the tutorial ran."
    assert "All " in output and ran in output, output[-3000:]

    # sdist -> wheel, on a PATH without Node.js: the sdist carries the built
    # assets, so installing from it needs no npm.
    source = tmp_path / "from-sdist"
    with tarfile.open(sdist) as archive:
        archive.extractall(source, filter="data")
    no_node = tmp_path / "empty-bin"
    no_node.mkdir()
    _build(
        _one(source, "piccolo_pgext-*"),
        tmp_path / "dist2",
        "--wheel",
        env={**os.environ, "PATH": str(no_node)},
    )
    wheel2 = _one(tmp_path / "dist2", "*.whl")
    assert _wheel_names(wheel2) == _wheel_names(wheel)
    _install(user, wheel2, _wheelhouse(wheel), "--no-deps", "--force-reinstall")
    _check(user, env, "assets")
