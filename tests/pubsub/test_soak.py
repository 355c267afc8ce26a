"""A short, bounded run of the durable soak (bench/soak_durable.py): writer
processes publishing as fast as they can, each with its own stamper, a
subscriber process, backends killed at random, checkpoints forced, a busy
process starving the CPU; then the same on a durable server crashed again
and again.  Every committed outbox row must be received, in order, and
every publish that returned must be committed; duplicates are allowed
(at-least-once)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).parent.parent.parent


@pytest.mark.timeout(300)
def test_durable_soak_loses_nothing(postgres_dsn: str, tmp_path: Path) -> None:
    results = tmp_path / "soak.json"
    options = {
        "--dsn": postgres_dsn,
        "--messages": "40000",
        "--seconds": "40",
        "--writer-procs": "3",
        "--conns": "4",
        "--starve": "1",
        "--kill-every": "0.4",
        "--checkpoint-every": "0.2",
        "--drain": "60",
        "--results": str(results),
    }
    run, report, summary = soak(options, results)
    # The run had teeth: many messages, kills that hit writers, a subscriber
    # that had to reconnect, checkpoints all along.
    # The kill and checkpoint loops run for as long as the writers publish,
    # which depends on the machine's speed, so their counts are held to half
    # of what their intervals allow in that time, never to a fixed number.
    assert report["committed"] >= 5000, summary
    seconds = report["publish_seconds"]
    assert seconds >= 3, summary
    assert report["kills"] >= 0.5 * seconds / 0.4, summary
    assert report["checkpoints"] >= 0.5 * seconds / 0.2, summary
    assert report["writer_errors"] > 0, summary
    # Nothing lost, nothing out of order, nothing left unnumbered.
    assert report["lost"] == 0, summary
    assert report["never_numbered"] == 0, summary
    assert report["unnumbered_rows"] == 0, summary
    assert report["reordered"] == 0, summary
    assert report["misnumbered"] == 0, summary
    assert report["subscriber_follow_task"] == "running", summary
    assert report["publishes_hung"] == 0 and report["children_stuck"] == 0, summary
    assert report["acknowledged"] > 0 and report["acknowledged_missing"] == 0, summary
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.timeout(300)
def test_durable_soak_survives_server_crashes(tmp_path: Path) -> None:
    """A durable server of the soak's own (fsync, synchronous_commit on),
    stopped with no shutdown checkpoint every few seconds while writers
    publish and backends are killed: crash recovery must keep every publish
    that returned, and the subscriber must get every committed message."""
    results = tmp_path / "soak.json"
    options = {
        "--crashes": "4",
        # Bounded by time, not count: three crashes on any machine.
        "--messages": "1000000",
        "--seconds": "13",
        "--writer-procs": "2",
        "--conns": "4",
        "--starve": "0",
        "--kill-every": "1",
        "--checkpoint-every": "0.5",
        "--drain": "60",
        "--results": str(results),
    }
    run, report, summary = soak(options, results)
    assert report["server"]["fsync"] == "on", summary
    assert report["server"]["synchronous_commit"] == "on", summary
    assert report["crashes"] >= 2, summary
    assert report["committed"] >= 2000, summary
    assert report["acknowledged"] > 0 and report["acknowledged_missing"] == 0, summary
    assert report["lost"] == 0 and report["never_numbered"] == 0, summary
    assert report["unnumbered_rows"] == 0, summary
    assert report["reordered"] == 0 and report["misnumbered"] == 0, summary
    assert report["subscriber_follow_task"] == "running", summary
    assert report["publishes_hung"] == 0 and report["children_stuck"] == 0, summary
    assert run.returncode == 0, run.stderr[-3000:]


def soak(
    options: dict[str, str], results: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak_durable", *sum(options.items(), ())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert results.exists(), run.stderr[-3000:]
    report = json.loads(results.read_text())
    summary = {k: v for k, v in report.items() if k != "server"}
    return run, report, summary
