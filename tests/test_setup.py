"""The README's commands: set-up is idempotent, and the tests run against
servers given by environment variables instead of starting their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_setup_is_idempotent() -> None:
    # The suite itself runs after scripts/setup, so a second run must find
    # everything in place and install nothing.
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "setup")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "installing" not in done.stderr
    assert "npm ci" not in done.stderr
    assert "ready" in done.stderr


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["scripts/playground", "scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci


@pytest.mark.postgres
def test_tests_use_a_given_server(postgres_dsn: str, tmp_path: Path) -> None:
    """With PGEXT_POSTGRES_DSN set, the suite uses that server and starts
    no cluster of its own."""
    # A private TMPDIR: any cluster the run started would show up in it.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {
        **os.environ,
        "PGEXT_POSTGRES_DSN": postgres_dsn,
        "PGEXT_TIMESCALE_DSN": "off",
        "CI": "",
        "TMPDIR": str(private_tmp),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_engine.py"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    started_clusters = list(private_tmp.glob("pgext-pg-*"))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "passed" in done.stdout
    # the TimescaleDB test is skipped and says which server is missing
    assert "1 skipped" in done.stdout
    assert started_clusters == []
