"""The processes of the pub/sub benchmark (bench_pubsub): a publisher child
that sends stamped NOTIFYs, a subscriber child that follows the writers'
channels as a consuming service would, and the in-process listeners
(raw asyncpg, pgext) whose latency the delivery jobs time.  Children run
as ``python -m bench.pubsub_processes DSN [subscriber]``."""

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

from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message

if TYPE_CHECKING:
    pass

CHANNEL = "bench_pubsub"


class Probe(BaseModel):
    n: int
    ts: float


class Order(BaseModel):
    writer: int
    seq: int
    ts: float


DURABLE = Channel("bench_pubsub_orders", Order, durable=True)


# (b) publishes through pgext too, on a plain channel: the same Python path
# and payload as (c), so the two differ only in NOTIFY vs outbox.
PLAIN = Channel("bench_pubsub_orders_plain", Order)


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
            "bench.pubsub_processes",
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
            "bench.pubsub_processes",
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


if __name__ == "__main__":
    if sys.argv[2:] == ["subscriber"]:
        asyncio.run(_subscriber_main(sys.argv[1]))
    else:
        asyncio.run(_publisher_main(sys.argv[1]))
