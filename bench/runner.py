"""Time several implementations of the same job side by side, in one process.

Each job is a set of named async callables doing the same work.  They run
interleaved (A, B, C, A, B, C, ...) so drift of the machine hits all of them
alike; each round's times are kept and the median is reported, with the ratio
of every implementation to the job's baseline (raw asyncpg, usually: the
limit) and to any other named anchor.  Beside the wall time each round records
this process's CPU time (``time.process_time``: the client's own cost, less
exposed to the other processes on the machine), and each job the machine's
load average (``os.getloadavg``) when it started and ended.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Implementation = Callable[[], Awaitable[Any]]


@dataclass
class Timing:
    name: str
    seconds: list[float]
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_seconds) if self.cpu_seconds else None


@dataclass
class JobResult:
    job: str
    baseline: str
    timings: list[Timing]
    units: int = 1
    unit_name: str = "op"
    server: str = ""
    notes: str = ""
    anchors: list[str] = field(default_factory=list)
    # Measurements beyond timings (per-statement breakdowns, CPU counts).
    details: dict[str, Any] = field(default_factory=dict)
    # 1-, 5- and 15-minute load averages when the job started and ended.
    load_before: tuple[float, ...] = ()
    load_after: tuple[float, ...] = ()

    def median(self, name: str) -> float:
        return next(t.median for t in self.timings if t.name == name)

    def ratio(self, name: str, against: str) -> float:
        """How fast ``name`` is relative to ``against`` (>1: faster)."""
        return self.median(against) / self.median(name)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["medians"] = {t.name: t.median for t in self.timings}
        data["cpu_medians"] = {t.name: t.cpu_median for t in self.timings}
        data["ratios_vs_baseline"] = {
            t.name: self.ratio(t.name, self.baseline) for t in self.timings
        }
        return data


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def compare(
    job: str,
    implementations: Mapping[str, Implementation],
    *,
    baseline: str,
    repeat: int = 5,
    warmup: int = 1,
    units: int = 1,
    unit_name: str = "op",
    server: str = "",
    notes: str = "",
    anchors: Sequence[str] = (),
    before_each: Implementation | None = None,
    rotate: bool = False,
) -> JobResult:
    """Run every implementation ``warmup + repeat`` times, interleaved;
    ``rotate=True`` starts each round with the next implementation, so none
    always runs right after the same neighbour (for close comparisons)."""
    if baseline not in implementations:
        raise ValueError(f"baseline {baseline!r} is not one of the implementations")
    seconds: dict[str, list[float]] = {name: [] for name in implementations}
    cpu: dict[str, list[float]] = {name: [] for name in implementations}
    load_before = os.getloadavg()
    order = list(implementations.items())
    for round_number in range(warmup + repeat):
        shift = round_number % len(order) if rotate else 0
        for name, implementation in order[shift:] + order[:shift]:
            if before_each is not None:
                await before_each()
            started = time.perf_counter()
            started_cpu = time.process_time()
            await implementation()
            elapsed = time.perf_counter() - started
            elapsed_cpu = time.process_time() - started_cpu
            if round_number >= warmup:
                seconds[name].append(elapsed)
                cpu[name].append(elapsed_cpu)
        progress(f"{job}: round {round_number + 1}/{warmup + repeat}")
    return JobResult(
        job=job,
        baseline=baseline,
        timings=[Timing(name, values, cpu[name]) for name, values in seconds.items()],
        units=units,
        unit_name=unit_name,
        server=server,
        notes=notes,
        anchors=list(anchors),
        load_before=tuple(load_before),
        load_after=tuple(os.getloadavg()),
    )


def markdown(results: Sequence[JobResult]) -> str:
    lines = [
        "# pgext benchmark results",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}. Medians of interleaved rounds; "
        "ratio = baseline time / this time (>1 means faster than the baseline).",
        "",
    ]
    for result in results:
        lines += [f"## {result.job}", ""]
        if result.server:
            lines.append(f"Server: {result.server}. ")
        if result.load_before:
            lines.append(
                "Load average (1/5/15 min) at start "
                + "/".join(f"{v:.2f}" for v in result.load_before)
                + ", at end "
                + "/".join(f"{v:.2f}" for v in result.load_after)
                + ". "
            )
        if result.notes:
            lines.append(result.notes)
        lines.append("")
        anchor_cols = "".join(f" | vs {a}" for a in result.anchors)
        lines.append(
            f"| implementation | median s | client CPU s | {result.unit_name}/s | "
            f"vs {result.baseline}{anchor_cols} |"
        )
        lines.append("|---" * (5 + len(result.anchors)) + "|")
        for timing in result.timings:
            rate = result.units / timing.median if timing.median else float("inf")
            cpu_median = timing.cpu_median
            cells = [
                timing.name,
                f"{timing.median:.4f}",
                "-" if cpu_median is None else f"{cpu_median:.4f}",
                f"{rate:,.0f}",
                f"{result.ratio(timing.name, result.baseline):.2f}x",
            ]
            cells += [f"{result.ratio(timing.name, a):.2f}x" for a in result.anchors]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_results(results: Sequence[JobResult], directory: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md``; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "results.json"
    md_path = directory / "results.md"
    json_path.write_text(json.dumps([r.as_dict() for r in results], indent=2))
    md_path.write_text(markdown(results))
    return json_path, md_path
