"""Only the many-writers part of the pubsub suite (issue 15), with the
per-statement breakdown: ``python -m bench.run_writers [--quick]
[--server KIND] [--writers N ...] [--rounds R]``.  Results go to
``bench/results/writers/`` (``--out``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.pubsub_writers import SERVER_KINDS, WRITER_COUNTS
from bench.pubsub_writers_jobs import WritersPlan, writers_jobs
from bench.run import BENCH_DIR, BenchContext
from bench.runner import JobResult, progress, write_results
from pgext.harness.servers import ServerSet


async def _run(ctx: BenchContext, plan: WritersPlan) -> list[JobResult]:
    config = ctx.postgres_config
    return [] if config is None else await writers_jobs(ctx, config, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "writers")
    parser.add_argument(
        "--server", choices=SERVER_KINDS, action="append", help="default: both"
    )
    parser.add_argument("--writers", type=int, nargs="+", default=list(WRITER_COUNTS))
    parser.add_argument("--rounds", type=int, help="measured rounds (default 3)")
    args = parser.parse_args(argv)
    plan = WritersPlan(
        kinds=tuple(args.server or SERVER_KINDS),
        writers=tuple(args.writers),
        rounds=args.rounds,
        transactions=args.writers == list(WRITER_COUNTS),
        latency=args.writers == list(WRITER_COUNTS),
    )
    servers = ServerSet.from_environment()
    try:
        results = asyncio.run(_run(BenchContext(servers, args.quick), plan))
    finally:
        servers.stop()
    json_path, _ = write_results(results, args.out)
    progress(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
