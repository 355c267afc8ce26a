"""Pub/sub: delivery latency and throughput against raw asyncpg, and the
cost of publishing under many writers (issue 8).

Jobs:

* NOTIFY-to-subscriber latency at 100, 1,000 and 10,000 msg/s: raw asyncpg
  ``add_listener`` (callback entry) vs a pgext plain subscription (``async
  for`` over a typed channel, so decoding, validation and the bounded queue
  are included).  A publisher in a child process sends identical
  ``pg_notify`` calls for both, each payload stamped with its send time.
  Percentiles go into the job's notes.
* maximum delivery rate: the child sends N notifications as fast as it can
  (1,000 per statement), the subscriber counts them.
* commits/s of small application transactions at 1, 2, 4, 8, 16 and 32
  concurrent writers (1, 8 and 32 for multi-statement transactions), with
  CPU per commit and server time per statement (bench/pubsub_writers.py):
  (a) no publishing, (b) pgext plain publishing (NOTIFY in every
  transaction), (c) pgext durable publishing (outbox row only; the relay
  notifies once per burst), and, one statement per transaction only, (c0)
  the floor of any outbox: the same statement writing the outbox-shaped row
  into a table nothing delivers.  One subscriber per variant runs in a
  child process, as
  consumers are another service.  Then the
  publish-to-subscriber latency of (c) at 1,000 msg/s, with a check that no
  message was lost or reordered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bench.pubsub_processes import (
    PgextListener,
    Publisher,
    RawListener,
    _job,
    percentiles,
)
from bench.pubsub_writers_jobs import writers_jobs
from bench.runner import JobResult, compare, progress
from pgext.engine import PgextEngine

if TYPE_CHECKING:
    from bench.run import BenchContext

# -- latency and throughput --


async def delivery_jobs(ctx: BenchContext, config: dict[str, Any]) -> list[JobResult]:
    engine = PgextEngine(config=config)
    publisher = await Publisher(config["dsn"]).start()
    raw = RawListener(config)
    ours = PgextListener(engine)
    await raw.start()
    await ours.start()
    results = []
    try:
        for rate in (100, 1000, 10000):
            seconds = ctx.size(3, 1) if rate < 10000 else ctx.size(2, 0.5)
            count = max(50, int(rate * seconds))
            # Each listener runs alone while it is measured: the other
            # stops listening, so both see the same load.
            jobs = {}
            for listener in (raw, ours):
                jobs[listener.name] = _solo(
                    listener, (raw, ours), publisher, count, rate
                )
            for listener in (raw, ours):
                listener.receiver.latencies.clear()
            result = await compare(
                f"NOTIFY -> subscriber latency at {rate:,} msg/s ({count} msgs/round)",
                jobs,
                baseline=raw.name,
                units=count,
                unit_name="msg",
                server=await ctx.describe(config),
                repeat=ctx.size(3, 2),
            )
            result.notes = (
                "Latency (send stamp to callback / async-for body): "
                + "; ".join(
                    f"{listener.name}: {percentiles(listener.receiver.latencies)}"
                    for listener in (raw, ours)
                )
            )
            progress(result.notes)
            results.append(result)
        count = ctx.size(100_000, 20_000)
        jobs = {
            listener.name: _solo(listener, (raw, ours), publisher, count, 0)
            for listener in (raw, ours)
        }
        result = await compare(
            f"maximum delivery rate ({count:,} notifications, 1,000 per statement)",
            jobs,
            baseline=raw.name,
            units=count,
            unit_name="msg",
            server=await ctx.describe(config),
            repeat=ctx.size(3, 2),
        )
        result.notes = (
            f"pgext drops: {ours.sub.stats()['dropped']} (queue 200,000); "
            "goal: pgext >= 0.8x raw."
        )
        results.append(result)
    finally:
        await raw.stop()
        await ours.stop()
        await publisher.close()
    return results


def _solo(
    listener: Any,
    everyone: tuple[Any, ...],
    publisher: Publisher,
    count: int,
    rate: float,
) -> Callable[[], Awaitable[None]]:
    """Run ``listener``'s job while the others ignore the traffic."""
    job = _job(listener, publisher, count, rate)

    async def run() -> None:
        for other in everyone:
            if other is not listener:
                other.receiver.expect(10**12)  # counting, never "done"
        saved = [list(o.receiver.latencies) for o in everyone]
        await job()
        # Keep only the measured listener's latencies.
        for other, kept in zip(everyone, saved, strict=True):
            if other is not listener:
                other.receiver.latencies[:] = kept

    return run


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    results = await delivery_jobs(ctx, config)
    results += await writers_jobs(ctx, config)
    return results
