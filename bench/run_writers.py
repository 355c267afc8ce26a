"""Only the many-writers part of the pubsub suite (issue 15), with the
per-statement breakdown: ``python -m bench.run_writers [--quick]``.
Results go to ``bench/results/writers/`` (``--out``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.pubsub_writers_jobs import writers_jobs
from bench.run import BENCH_DIR, BenchContext
from bench.runner import JobResult, progress, write_results
from pgext.harness.servers import ServerSet


async def _run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    return [] if config is None else await writers_jobs(ctx, config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "writers")
    args = parser.parse_args(argv)
    servers = ServerSet.from_environment()
    try:
        results = asyncio.run(_run(BenchContext(servers, args.quick)))
    finally:
        servers.stop()
    json_path, _ = write_results(results, args.out)
    progress(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
