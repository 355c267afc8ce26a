"""Pub/sub publishing cost (issue 20): what ``Hub.publish`` and
``Hub.publish_many`` add to the statement raw asyncpg would send, and
durable publishes/s by payload size next to plain INSERT commits/s.

Jobs:

* the publish path, one connection, one message per statement: raw
  asyncpg ``pg_notify`` / outbox INSERT (payload JSON built by an
  f-string) vs ``hub.publish`` on the same connection and on the engine's
  pool; then 100 messages per statement: raw ``unnest`` vs
  ``hub.publish_many``.
* durable publishes/s at 1 and 8 publisher connections, 64 B and 1 KiB
  payloads, next to plain INSERT commits/s and the raw outbox INSERT.
  Besides wall time, each variant's CPU per message is counted (this
  process, and the server backends from /proc when the server is local),
  because CPU per message stays comparable on a machine that other jobs
  load, where wall time does not.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from pydantic import BaseModel

from bench.runner import JobResult, compare, progress
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, install_schema

if TYPE_CHECKING:
    from bench.run import BenchContext


class Sized(BaseModel):
    n: int
    body: str


def sized(size: int) -> Sized:
    """A payload whose JSON is exactly ``size`` bytes."""
    empty = len(Sized(n=1, body="").model_dump_json())
    return Sized(n=1, body="x" * (size - empty))


PLAIN = Channel("bench_publish_plain", Sized)
DURABLE = Channel("bench_publish_durable", Sized, durable=True)
NOTIFY_SQL = "SELECT pg_notify($1, $2)"
NOTIFY_MANY_SQL = "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x"
OUTBOX_SQL = "INSERT INTO pgext_outbox (channel, payload) VALUES ($1, $2)"
OUTBOX_MANY_SQL = (
    "INSERT INTO pgext_outbox (channel, payload) "
    "SELECT $1, p FROM unnest($2::text[]) AS p"
)
ROWS_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_publish_rows "
    "(id bigserial PRIMARY KEY, channel text NOT NULL, payload text NOT NULL)"
)
ROWS_SQL = "INSERT INTO bench_publish_rows (channel, payload) VALUES ($1, $2)"
# The raw outbox rows of the rate job go to a table shaped like pgext's
# outbox but apart from it, so no relay round of a pgext variant numbers them.
RAW_OUTBOX_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS bench_publish_outbox_seq CACHE 1",
    "CREATE TABLE IF NOT EXISTS bench_publish_outbox (id bigint PRIMARY KEY "
    "DEFAULT nextval('bench_publish_outbox_seq'), channel text NOT NULL, "
    "payload text NOT NULL)",
)
RAW_OUTBOX_SQL = "INSERT INTO bench_publish_outbox (channel, payload) VALUES ($1, $2)"

Job = Callable[[], Awaitable[None]]


def _raw_text(size: int) -> Callable[[], str]:
    """What a raw publisher sends: the same JSON, built by an f-string."""
    pad = "x" * (size - len('{"n":1,"body":""}'))
    return lambda: f'{{"n":1,"body":"{pad}"}}'


def _envelope(text: str) -> str:
    return f'{{"pgext":1,"ts":{time.time()!r},"d":{text}}}'


async def path_jobs(
    ctx: BenchContext, config: dict[str, Any], hub: Hub
) -> list[JobResult]:
    """One publisher connection: the cost pgext adds per message."""
    count = ctx.size(2000, 300)
    batch = 100
    payload = sized(64)
    raw = _raw_text(64)
    conn = await asyncpg.connect(**config)
    many = hasattr(hub, "publish_many")  # absent before issue 20
    results = []
    try:
        for channel, one_sql, many_sql in (
            (PLAIN, NOTIFY_SQL, NOTIFY_MANY_SQL),
            (DURABLE, OUTBOX_SQL, OUTBOX_MANY_SQL),
        ):
            kind = "durable" if channel.durable else "plain"

            def wrap(text: str, durable: bool = channel.durable) -> str:
                return text if durable else _envelope(text)

            async def raw_one(sql: str = one_sql, name: str = channel.name) -> None:
                for _ in range(count):
                    await conn.execute(sql, name, wrap(raw()))

            async def ours(channel: Channel[Sized] = channel) -> None:
                for _ in range(count):
                    await hub.publish(channel, payload, connection=conn)

            async def pooled(channel: Channel[Sized] = channel) -> None:
                for _ in range(count):
                    await hub.publish(channel, payload)

            async def raw_many(sql: str = many_sql, name: str = channel.name) -> None:
                for _ in range(count // batch):
                    await conn.execute(sql, name, [wrap(raw()) for _ in range(batch)])

            async def ours_many(channel: Channel[Sized] = channel) -> None:
                for _ in range(count // batch):
                    await hub.publish_many(channel, [payload] * batch, connection=conn)

            jobs: dict[str, Job] = {
                f"raw asyncpg, {kind}": raw_one,
                f"pgext publish, {kind}, connection=": ours,
                f"pgext publish, {kind}, no connection=": pooled,
                f"raw asyncpg, {kind}, {batch} per statement": raw_many,
            }
            if many:
                jobs[f"pgext publish_many, {kind}, {batch} per call"] = ours_many
            result = await compare(
                f"publish path, {kind} channel, 64 B payloads, one connection",
                jobs,
                baseline=f"raw asyncpg, {kind}",
                anchors=[f"raw asyncpg, {kind}, {batch} per statement"],
                units=count,
                unit_name="msg",
                server=await ctx.describe(config),
                repeat=ctx.size(7, 2),
                rotate=True,
            )
            result.notes = f"Load average at the end: {_load()}."
            progress(result.notes)
            results.append(result)
            await hub.flush()
    finally:
        await conn.close()
    return results


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


class CpuMeter:
    """CPU seconds of this process and of the server's client backends
    (read from /proc: only when the server runs on this host)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = [p for p in pids if os.access(f"/proc/{p}/stat", os.R_OK)]
        self.tick = os.sysconf("SC_CLK_TCK")

    def _server(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / self.tick
        return total

    def read(self) -> tuple[float, float]:
        return time.process_time(), self._server()


async def _backend_pids(config: dict[str, Any]) -> list[int]:
    conn = await asyncpg.connect(**config)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def _rate_variants(hub: Hub, conns: list[Any], per_conn: int) -> dict[str, Job]:
    small, large = sized(64), sized(1024)
    raw_small, raw_large = _raw_text(64)(), _raw_text(1024)()

    def each(step: Callable[[Any], Awaitable[Any]]) -> Job:
        async def loop(conn: Any) -> None:
            for _ in range(per_conn):
                await step(conn)

        async def run() -> None:
            await asyncio.gather(*(loop(c) for c in conns))
            await hub.flush()  # the relay's rounds belong to the variant

        return run

    return {
        "plain INSERT, 64 B": each(lambda c: c.execute(ROWS_SQL, "x", raw_small)),
        "raw outbox INSERT, 64 B": each(
            lambda c: c.execute(RAW_OUTBOX_SQL, "bench_raw", raw_small)
        ),
        "pgext durable publish, 64 B": each(
            lambda c: hub.publish(DURABLE, small, connection=c)
        ),
        "plain INSERT, 1 KiB": each(lambda c: c.execute(ROWS_SQL, "x", raw_large)),
        "raw outbox INSERT, 1 KiB": each(
            lambda c: c.execute(RAW_OUTBOX_SQL, "bench_raw", raw_large)
        ),
        "pgext durable publish, 1 KiB": each(
            lambda c: hub.publish(DURABLE, large, connection=c)
        ),
    }


async def rate_jobs(
    ctx: BenchContext, config: dict[str, Any], hub: Hub
) -> list[JobResult]:
    """Durable publishes/s by payload size at 1 and 8 connections."""
    results = []
    per_conn = ctx.size(1500, 200)
    for conns_n in (1, 8):
        conns = [await asyncpg.connect(**config) for _ in range(conns_n)]
        jobs = _rate_variants(hub, conns, per_conn)
        meter = CpuMeter(await _backend_pids(config))
        cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
        rounds: dict[str, list[int]] = {name: [] for name in jobs}
        measured = {
            name: _metered(job, meter, cpu[name], hub, rounds[name])
            for name, job in jobs.items()
        }
        total = per_conn * conns_n
        result = await compare(
            f"durable publishes/s, {conns_n} publisher connection(s), "
            f"{total} msgs/round",
            measured,
            baseline="plain INSERT, 64 B",
            anchors=["raw outbox INSERT, 64 B"],
            units=total,
            unit_name="msg",
            server=await ctx.describe(config),
            repeat=ctx.size(9, 2),
            rotate=True,
        )
        result.notes = (
            "CPU per message, median over rounds (client process / server "
            "backends): "
            + "; ".join(
                f"{name}: {_median_us(v, 0, total)} / {_median_us(v, 1, total)} us"
                for name, v in cpu.items()
            )
            + ". Messages per relay round (median): "
            + "; ".join(
                f"{name}: {total / max(statistics.median(r[1:] or r), 1):.1f}"
                for name, r in rounds.items()
                if name.startswith("pgext")
            )
            + f". Load average at the end: {_load()}."
        )
        progress(result.notes)
        results.append(result)
        for conn in conns:
            await conn.close()
    return results


def _metered(
    job: Job,
    meter: CpuMeter,
    into: list[tuple[float, float]],
    hub: Hub,
    rounds: list[int],
) -> Job:
    async def run() -> None:
        before, first = meter.read(), hub.relay.rounds
        await job()
        after = meter.read()
        into.append((after[0] - before[0], after[1] - before[1]))
        rounds.append(hub.relay.rounds - first)

    return run


def _median_us(values: list[tuple[float, float]], which: int, count: int) -> str:
    # The first value is the warm-up round.
    kept = values[1:] or values
    return f"{statistics.median(v[which] for v in kept) * 1e6 / count:.0f}"


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    engine = PgextEngine(config=config)
    await engine.start_connection_pool(min_size=1, max_size=2)
    await install_schema(engine)
    async with engine.connection() as conn:
        for ddl in (ROWS_DDL, *RAW_OUTBOX_DDL):
            await conn.execute(ddl)
    hub = Hub(engine)
    try:
        results = await path_jobs(ctx, config, hub)
        results += await rate_jobs(ctx, config, hub)
    finally:
        await hub.close()
        await engine.close_connection_pool()
    return results
