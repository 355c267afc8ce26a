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

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
from pydantic import BaseModel

from bench.pubsub_writers import WRITER_COUNTS, WritersMeter, load, stats_server
from bench.runner import JobResult, compare, progress
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message, install_schema

if TYPE_CHECKING:
    from bench.run import BenchContext

CHANNEL = "bench_pubsub"


class Probe(BaseModel):
    n: int
    ts: float


class Order(BaseModel):
    writer: int
    seq: int
    ts: float


# -- the publisher child process --


async def _publisher_main(dsn: str) -> None:
    """Read ``count rate`` lines; send ``count`` notifications on CHANNEL at
    ``rate``/s (0: as fast as possible), then print ``done``."""
    conn = await asyncpg.connect(dsn)
    sql = "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x"
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while line := await reader.readline():
        count, rate = (float(v) for v in line.split())
        total = int(count)
        # Batch only when one statement per message cannot keep the pace.
        batch = 1000 if rate == 0 else max(1, int(rate // 2000))
        started = time.perf_counter()
        for first in range(0, total, batch):
            if rate:
                delay = started + first / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.time()
            payloads = [
                f'{{"n":{n},"ts":{now!r}}}'
                for n in range(first, min(total, first + batch))
            ]
            await conn.execute(sql, CHANNEL, payloads)
        print("done", flush=True)
    await conn.close()


class Publisher:
    """The child process, driven over stdin."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Publisher:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bench_pubsub",
            self.dsn,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def send(self, count: int, rate: float) -> None:
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{count} {rate}\n".encode())
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        assert line.strip() == b"done", line

    async def close(self) -> None:
        if self.proc and self.proc.stdin:
            self.proc.stdin.close()
            await self.proc.wait()


class SubscriberProcess:
    """A child process subscribed to both writer-benchmark channels: a pgext
    plain subscription to (b) and a durable one to (c), each decoding and
    validating every message.  As in
    production the consumers are another service: their CPU is spent on the
    same machine, but not in the writers' event loop.  ``counts()`` asks it
    how many messages each has received."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> SubscriberProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.bench_pubsub",
            self.dsn,
            "subscriber",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await self._ask("ready")
        return self

    async def _ask(self, command: str) -> str:
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{command}\n".encode())
        await self.proc.stdin.drain()
        return (await self.proc.stdout.readline()).decode().strip()

    async def counts(self) -> tuple[int, int, int, int]:
        """(plain received, durable received (distinct), durable duplicates,
        durable messages out of order per writer)."""
        plain, durable, dups, disorder = (await self._ask("count")).split()
        return int(plain), int(durable), int(dups), int(disorder)

    async def pids(self) -> tuple[int | None, int | None]:
        """Server pids of its hub's LISTEN connection and relay."""
        listener, relay = (await self._ask("pids")).split()
        return (
            int(listener) if listener != "-" else None,
            int(relay) if relay != "-" else None,
        )

    async def close(self) -> None:
        if self.proc and self.proc.stdin:
            self.proc.stdin.close()
            await self.proc.wait()


async def _subscriber_main(dsn: str) -> None:
    plain_count = 0
    # Durable only: order, losses and duplicates.  NOTIFY (b) promises no
    # order across reconnects and none of completeness, so it is counted.
    seen: set[tuple[int, int]] = set()
    dups = disorder = 0
    last: dict[int, int] = {}
    engine = PgextEngine(config={"dsn": dsn})
    hub = Hub(engine)
    # Both decoded and validated the same way: only the transport differs.
    plain = await hub.subscribe(PLAIN, queue_size=100_000).ready()
    durable = await hub.subscribe(DURABLE, queue_size=100_000).ready()

    async def count_plain() -> None:
        nonlocal plain_count
        async for event in plain:
            if isinstance(event, Message):
                plain_count += 1

    async def check_durable() -> None:
        nonlocal dups, disorder
        async for event in durable:
            if isinstance(event, Message):
                order = event.data
                key = (order.writer, order.seq)
                if key in seen:
                    dups += 1  # allowed (at least once), counted
                    continue
                seen.add(key)
                if last.get(order.writer, -1) > order.seq:
                    disorder += 1
                else:
                    last[order.writer] = order.seq

    consumers = [
        asyncio.create_task(count_plain()),
        asyncio.create_task(check_durable()),
    ]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while line := await reader.readline():
        command = line.strip()
        if command == b"ready":
            print("ready", flush=True)
        elif command == b"pids":
            pids = (hub.listener.backend_pid, hub.relay.backend_pid)
            print(*("-" if pid is None else pid for pid in pids), flush=True)
        else:
            print(plain_count, len(seen), dups, disorder, flush=True)
    for consumer in consumers:
        consumer.cancel()
    await hub.close()


# -- subscribers --


class Receiver:
    """Counts arrivals and records latencies (receive time - send stamp)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, count: int) -> None:
        self.count = 0
        self.target = count
        self.done.clear()

    def got(self, sent: float) -> None:
        self.latencies.append(time.time() - sent)
        self.count += 1
        if self.count >= self.target:
            self.done.set()


class RawListener:
    name = "raw asyncpg add_listener"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.receiver = Receiver()
        self.conn: Any = None

    async def start(self) -> None:
        self.conn = await asyncpg.connect(**self.config)

        def callback(conn: Any, pid: int, channel: str, payload: str) -> None:
            self.receiver.got(json.loads(payload)["ts"])

        await self.conn.add_listener(CHANNEL, callback)

    async def stop(self) -> None:
        await self.conn.close()


class PgextListener:
    name = "pgext plain subscription"

    def __init__(self, engine: PgextEngine) -> None:
        self.hub = Hub(engine)
        self.receiver = Receiver()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sub = await self.hub.subscribe(
            Channel(CHANNEL, Probe), queue_size=200_000
        ).ready()
        self.sub = sub

        async def consume() -> None:
            async for event in sub:
                if isinstance(event, Message):
                    self.receiver.got(event.data.ts)

        self.task = asyncio.create_task(consume())

    async def stop(self) -> None:
        await self.hub.close()
        if self.task:
            await self.task


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100, method="inclusive")
    ms = [v * 1000 for v in (q[49], q[94], q[98])]
    return f"p50 {ms[0]:.3f} ms, p95 {ms[1]:.3f} ms, p99 {ms[2]:.3f} ms"


def _job(
    listener: Any, publisher: Publisher, count: int, rate: float
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        listener.receiver.expect(count)
        await publisher.send(count, rate)
        await asyncio.wait_for(listener.receiver.done.wait(), 60)

    return run


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


# -- issue 8: publishing under many writers --

ORDERS_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_pubsub_orders "
    "(id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, "
    "total numeric NOT NULL)"
)
INSERT_ORDER = (
    "INSERT INTO bench_pubsub_orders (writer, seq, total) VALUES ($1, $2, $3)"
)
DURABLE = Channel("bench_pubsub_orders", Order, durable=True)


# (b) publishes through pgext too, on a plain channel: the same Python path
# and payload as (c), so the two differ only in NOTIFY vs outbox.
PLAIN = Channel("bench_pubsub_orders_plain", Order)

# The floor of any outbox design: the same statement writing a row shaped
# like pgext_outbox's into a table nothing reads (no relay, no delivery, no
# Python beyond the driver).
FLOOR = "(c0) floor: outbox row only, undelivered"
FLOOR_DDL = (
    "CREATE SEQUENCE IF NOT EXISTS bench_outbox_floor_seq CACHE 1",
    "CREATE TABLE IF NOT EXISTS bench_outbox_floor (id bigint PRIMARY KEY "
    "DEFAULT nextval('bench_outbox_floor_seq'), channel text NOT NULL, "
    "payload text NOT NULL)",
)
FLOOR_ALONG = (
    "WITH app AS (INSERT INTO bench_pubsub_orders (writer, seq, total) "
    "VALUES ($1, $2, $3)) INSERT INTO bench_outbox_floor (channel, payload) "
    "VALUES ($4, $5)"
)

Publish = Callable[[Any, int, int], Awaitable[None]]


def _one_statement(hub: Hub) -> dict[str, Publish]:
    """Each application transaction is one statement (one round trip)."""

    async def a(conn: Any, w: int, seq: int) -> None:
        await conn.execute(INSERT_ORDER, w, seq, 9.5)

    async def b(conn: Any, w: int, seq: int) -> None:
        await hub.publish(
            PLAIN,
            Order(writer=w, seq=seq, ts=time.time()),
            connection=conn,
            along=(INSERT_ORDER, [w, seq, 9.5]),
        )

    async def c(conn: Any, w: int, seq: int) -> None:
        await hub.publish(
            DURABLE,
            Order(writer=w, seq=seq, ts=time.time()),
            connection=conn,
            along=(INSERT_ORDER, [w, seq, 9.5]),
        )

    async def c0(conn: Any, w: int, seq: int) -> None:
        payload = f'{{"writer":{w},"seq":{seq},"ts":1.0}}'
        await conn.execute(FLOOR_ALONG, w, seq, 9.5, DURABLE.name, payload)

    return {
        "(a) no publishing": a,
        "(b) NOTIFY per transaction": b,
        "(c) pgext durable": c,
        FLOOR: c0,
    }


def _transaction(hub: Hub) -> dict[str, Publish]:
    """BEGIN; INSERT; [publish;] COMMIT: separate statements."""

    def wrap(extra: Publish | None) -> Publish:
        async def run(conn: Any, w: int, seq: int) -> None:
            async with conn.transaction():
                await conn.execute(INSERT_ORDER, w, seq, 9.5)
                if extra is not None:
                    await extra(conn, w, seq)

        return run

    async def notify(conn: Any, w: int, seq: int) -> None:
        order = Order(writer=w, seq=seq, ts=time.time())
        await hub.publish(PLAIN, order, connection=conn)

    async def durable(conn: Any, w: int, seq: int) -> None:
        order = Order(writer=w, seq=seq, ts=time.time())
        await hub.publish(DURABLE, order, connection=conn)

    return {
        "(a) no publishing": wrap(None),
        "(b) NOTIFY per transaction": wrap(notify),
        "(c) pgext durable": wrap(durable),
    }


async def writers_jobs(ctx: BenchContext, config: dict[str, Any]) -> list[JobResult]:
    async with stats_server(config) as config:
        return await _writers_jobs(ctx, config)


async def _writers_jobs(ctx: BenchContext, config: dict[str, Any]) -> list[JobResult]:
    engine = PgextEngine(config=config)
    await engine.start_connection_pool(min_size=1, max_size=2)
    await install_schema(engine)
    async with engine.connection() as conn:
        for ddl in (ORDERS_DDL, *FLOOR_DDL):
            await conn.execute(ddl)
        await conn.execute("TRUNCATE bench_pubsub_orders, bench_outbox_floor")
    hub = Hub(engine)
    seconds = ctx.size(3, 1)
    rounds = ctx.size(3, 2)
    results: list[JobResult] = []
    # One subscriber per variant, attached throughout, as in production.
    subscribers = await SubscriberProcess(config["dsn"]).start()
    assert subscribers.proc is not None
    meter = await WritersMeter.start(config, subscribers.proc.pid)
    conns: list[Any] = []

    async def roles() -> dict[int, str]:
        found = {conn.get_server_pid(): "writers" for conn in conns}
        if hub.relay.backend_pid is not None:
            found[hub.relay.backend_pid] = "relay"
        listener, _ = await subscribers.pids()
        if listener is not None:
            found[listener] = "listener"
        return found

    meter.roles = roles
    sent = {"(b) NOTIFY per transaction": 0, "(c) pgext durable": 0}
    try:
        for style, variants, counts_of_writers in (
            ("one statement per transaction", _one_statement(hub), WRITER_COUNTS),
            ("BEGIN; INSERT; publish; COMMIT", _transaction(hub), (1, 8, 32)),
        ):
            for writers in counts_of_writers:
                conns = [await asyncpg.connect(**config) for _ in range(writers)]
                counts: dict[str, int] = {}
                jobs = {
                    name: meter.wrap(
                        writers,
                        f"{style}: {name}",
                        _writers(name, publish, conns, seconds, counts),
                        counts,
                        name,
                    )
                    for name, publish in variants.items()
                }
                result = await compare(
                    f"commits/s: {style}, {writers} writer(s), {seconds}s rounds",
                    jobs,
                    baseline="(a) no publishing",
                    anchors=[
                        name
                        for name in ("(b) NOTIFY per transaction", FLOOR)
                        if name in jobs
                    ],
                    units=1,
                    unit_name="round",
                    server=await ctx.describe(config),
                    repeat=rounds,
                    warmup=1,
                    rotate=True,
                )
                for name in sent:
                    sent[name] += counts[name]
                result.details = {
                    "writers": writers,
                    "style": style,
                    "variants": {
                        name: meter.summary(writers, f"{style}: {name}")
                        for name in jobs
                    },
                }
                result.notes = _writers_note(result.details["variants"])
                progress(result.notes)
                results.append(result)
                for conn in conns:
                    await conn.close()
        await hub.flush()
        results[-1].notes += await _delivery_check(subscribers, sent)
        results.append(await durable_latency(ctx, hub, config))
    finally:
        await meter.close()
        await subscribers.close()
        await hub.close()
        await engine.close_connection_pool()
    return results


def _writers_note(variants: dict[str, dict[str, Any]]) -> str:
    """Commits/s (median of the rounds) with the ratios issue 15 asks for."""
    rate = {name: v["commits_per_s"] for name, v in variants.items()}
    base = rate["(a) no publishing"]
    parts = [f"{name}: {r:,.0f} ({r / base:.2f}x a)" for name, r in rate.items()]
    ratios = (
        f"(c)/(b) {rate['(c) pgext durable'] / rate['(b) NOTIFY per transaction']:.2f}"
    )
    if FLOOR in rate:
        ratios += f", (c)/(c0) {rate['(c) pgext durable'] / rate[FLOOR]:.2f}"
    cpu = "; ".join(
        f"{name.split(')')[0]})"
        + " {client:.0f}/{subscriber:.0f}/{server:.0f}".format(**v["cpu_us_per_commit"])
        for name, v in variants.items()
    )
    return (
        "Commits/s (median of rounds): "
        + "; ".join(parts)
        + f". {ratios}. CPU us per commit (client/subscriber process/server): "
        + cpu
        + f". Load average: {load()}. Goals at 32 writers (issue 15): "
        "(c) >= 0.9x (c0) and >= 2x (b). A subscriber process is attached to "
        "(b) and (c) throughout."
    )


async def _delivery_check(subscribers: SubscriberProcess, sent: dict[str, int]) -> str:
    """What the subscriber process received of everything the writers sent:
    (c) must have every message, in order per writer; duplicates are
    allowed (at least once) and counted."""
    deadline = time.monotonic() + 60
    while True:
        plain, durable, dups, disorder = await subscribers.counts()
        if durable >= sent["(c) pgext durable"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    lost = sent["(c) pgext durable"] - durable
    note = (
        f" Subscriber process received: (b) {plain:,} of "
        f"{sent['(b) NOTIFY per transaction']:,}; (c) {durable:,} of "
        f"{sent['(c) pgext durable']:,}: {lost:,} lost, {dups:,} duplicated, "
        f"{disorder:,} out of order per writer."
    )
    progress(note)
    return note


_SEQUENCES: dict[int, int] = {}


def _writers(
    name: str,
    publish: Publish,
    conns: list[Any],
    seconds: float,
    counts: dict[str, int],
) -> Callable[[], Awaitable[None]]:
    """Every connection commits transactions for ``seconds``; the number of
    commits is added to ``counts[name]``."""

    async def run() -> None:
        stop = time.perf_counter() + seconds
        done = 0

        async def writer(w: int, conn: Any) -> None:
            nonlocal done
            # Sequences carry on across rounds, so the subscriber process
            # can check each writer's order over the whole benchmark.
            seq = _SEQUENCES.get(w, 0)
            while time.perf_counter() < stop:
                await publish(conn, w, seq)
                seq += 1
                done += 1
            _SEQUENCES[w] = seq

        await asyncio.gather(*(writer(w, c) for w, c in enumerate(conns)))
        counts[name] = counts.get(name, 0) + done

    return run


async def durable_latency(
    ctx: BenchContext, hub: Hub, config: dict[str, Any]
) -> JobResult:
    """(c) at 1,000 msg/s from 8 writers: publish-to-subscriber latency,
    completeness and order."""
    channel = Channel("bench_pubsub_latency", Order, durable=True)
    rate, writers = 1000, 8
    count = ctx.size(3000, 1000)
    latencies: list[float] = []
    problems: list[str] = []

    sub = await hub.subscribe(channel, queue_size=100_000).ready()
    conns = [await asyncpg.connect(**config) for _ in range(writers)]

    async def run() -> None:
        seen: list[tuple[int, int, int]] = []
        started = time.perf_counter()

        async def writer(w: int, conn: Any) -> None:
            for seq in range(count // writers):
                n = seq * writers + w
                delay = started + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                async with conn.transaction():
                    await conn.execute(INSERT_ORDER, w, seq, 1.0)
                    await hub.publish(
                        channel,
                        Order(writer=w, seq=seq, ts=time.time()),
                        connection=conn,
                    )

        async def read() -> None:
            while len(seen) < (count // writers) * writers:
                event = await sub.get(timeout=30)
                assert isinstance(event, Message) and event.id is not None
                latencies.append(time.time() - event.data.ts)
                seen.append((event.id, event.data.writer, event.data.seq))

        await asyncio.gather(read(), *(writer(w, c) for w, c in enumerate(conns)))
        ids = [s[0] for s in seen]
        if ids != sorted(ids) or len(set(ids)) != len(ids):
            problems.append("ids out of order or repeated")
        for w in range(writers):
            seqs = [s[2] for s in seen if s[1] == w]
            if seqs != list(range(count // writers)):
                problems.append(f"writer {w}: lost or reordered")

    try:
        result = await compare(
            f"(c) pgext durable: {count} msgs at {rate:,}/s from {writers} writers",
            {"pgext durable": run},
            baseline="pgext durable",
            units=(count // writers) * writers,
            unit_name="msg",
            server=await ctx.describe(config),
            repeat=ctx.size(3, 1),
            warmup=0,
        )
    finally:
        await sub.close()
        for conn in conns:
            await conn.close()
    result.notes = (
        f"Publish-to-subscriber latency: {percentiles(latencies)} (goal p50 < 5 ms). "
        "Lost/reordered: "
        + ("; ".join(problems) if problems else "none (0 lost, 0 reordered)")
        + "."
    )
    progress(result.notes)
    return result


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    results = await delivery_jobs(ctx, config)
    results += await writers_jobs(ctx, config)
    return results


if __name__ == "__main__":
    if sys.argv[2:] == ["subscriber"]:
        asyncio.run(_subscriber_main(sys.argv[1]))
    else:
        asyncio.run(_publisher_main(sys.argv[1]))
