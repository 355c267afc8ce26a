"""Run pgext's benchmarks: ``python -m bench.run [--quick] [suite ...]``.

Each ``bench/bench_<suite>.py`` module defines ``async def run(ctx) ->
list[JobResult]``.  Servers come from the harness (or the environment
variables of ``pgext.harness.servers``).  Results go to ``bench/results/``
(``--out`` to change) as JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runner import JobResult, progress, write_results
from bench.servers import describe_server
from pgext.harness.servers import ServerSet

BENCH_DIR = Path(__file__).parent


@dataclass
class BenchContext:
    servers: ServerSet
    quick: bool
    _described: dict[str, str] = field(default_factory=dict)

    @property
    def postgres_config(self) -> dict[str, Any] | None:
        return self.servers.postgres_config

    @property
    def timescale_config(self) -> dict[str, Any] | None:
        return self.servers.timescale_config

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    async def describe(self, config: dict[str, Any] | None) -> str:
        """The measured server, as it describes itself (asked once)."""
        if config is None:
            return ""
        key = str(config.get("dsn"))
        if key not in self._described:
            self._described[key] = await describe_server(config)
        return self._described[key]


def available_suites() -> list[str]:
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(BENCH_DIR)])
        if info.name.startswith("bench_")
    )


async def run_suites(ctx: BenchContext, suites: list[str]) -> list[JobResult]:
    results: list[JobResult] = []
    for suite in suites:
        progress(f"suite {suite}")
        module = importlib.import_module(f"bench.bench_{suite}")
        results.extend(await module.run(ctx))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"any of {available_suites()}")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    suites = args.suites or available_suites()
    unknown = set(suites) - set(available_suites())
    if unknown:
        parser.error(f"unknown suites: {sorted(unknown)}")
    servers = ServerSet.from_environment()
    try:
        results = asyncio.run(run_suites(BenchContext(servers, args.quick), suites))
    finally:
        servers.stop()
    json_path, md_path = write_results(results, args.out)
    print(md_path.read_text())
    progress(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
