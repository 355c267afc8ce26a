"""Child processes of the pub/sub delivery benchmark (issue 20).

Every contender runs in a process of its own, so each has an event loop and
a core's worth of scheduling to itself, and the "before" pgext can be
imported from an older source tree beside the current one.

``python -m bench.pubsub_contenders listen KIND DSN CHANNEL`` subscribes the
way KIND's users would, prints ``ready``, then answers ``expect N`` lines:
``ok`` at once, and ``done CPU P50 P99 DROPPED`` once N messages were
consumed (CPU: process seconds spent meanwhile; P50/P99: latency in seconds
from the publisher's stamp to the consumer's code).

``python -m bench.pubsub_contenders publish DSN`` answers ``send CHANNEL COUNT
PER_STATEMENT RATE CONNECTIONS FORMAT`` lines with ``done SECONDS``: COUNT
notifications in statements of PER_STATEMENT, spread over CONNECTIONS
connections, at RATE/s in total (0: as fast as they go).  FORMAT is ``json``
(the bare 64-byte payload), ``envelope`` (the text pgext's publisher sends,
written by raw SQL) or ``hub`` (pgext's own ``hub.publish``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel

PAYLOAD_BYTES = 64
KINDS = ("raw", "broadcaster", "asyncpg-listen", "pgext")


class Probe(BaseModel):
    n: int
    ts: float
    pad: str


def _pad(n: int, ts: float) -> str:
    head = f'{{"n":{n},"ts":{ts!r},"pad":"'
    return "x" * (PAYLOAD_BYTES - len(head) - 2)


def payload(n: int, ts: float) -> str:
    """The model's JSON, padded to PAYLOAD_BYTES."""
    return f'{{"n":{n},"ts":{ts!r},"pad":"{_pad(n, ts)}"}}'


class Counter:
    """What every contender's consumer calls per message."""

    def __init__(self) -> None:
        self.target = 0
        self.got = 0
        self.latencies: list[float] = []
        self.done: asyncio.Event = asyncio.Event()
        # What the contender must keep alive (connections, tasks).
        self.keep: list[Any] = []

    def expect(self, count: int) -> None:
        self.target, self.got = count, 0
        self.latencies = []
        self.done.clear()

    def seen(self, stamp: float) -> None:
        self.latencies.append(time.time() - stamp)
        self.got += 1
        if self.got >= self.target:
            self.done.set()


Start = Callable[[str, str, Counter], Awaitable[Callable[[], int]]]


async def _raw(dsn: str, channel: str, counter: Counter) -> Callable[[], int]:
    conn = await asyncpg.connect(dsn)

    def callback(conn: Any, pid: int, channel: str, text: str) -> None:
        counter.seen(json.loads(text)["ts"])

    await conn.add_listener(channel, callback)
    counter.keep.append(conn)
    return lambda: 0


async def _broadcaster(dsn: str, channel: str, counter: Counter) -> Callable[[], int]:
    from broadcaster import Broadcast

    broadcast = Broadcast(dsn)
    await broadcast.connect()
    subscribed = asyncio.Event()

    async def consume() -> None:
        async with broadcast.subscribe(channel) as subscriber:
            subscribed.set()
            async for event in subscriber:  # type: ignore[union-attr]
                if event is not None:
                    counter.seen(json.loads(event.message)["ts"])

    counter.keep += [broadcast, asyncio.get_running_loop().create_task(consume())]
    await subscribed.wait()
    return lambda: 0


async def _asyncpg_listen(
    dsn: str, channel: str, counter: Counter
) -> Callable[[], int]:
    import asyncpg_listen

    connected = asyncio.Event()

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(dsn)
        # run() LISTENs right after connecting; a short pause covers it.
        asyncio.get_running_loop().call_later(0.5, connected.set)
        return conn

    async def handle(note: Any) -> None:
        if isinstance(note, asyncpg_listen.Notification) and note.payload:
            counter.seen(json.loads(note.payload)["ts"])

    listener = asyncpg_listen.NotificationListener(connect)
    task = asyncio.get_running_loop().create_task(
        listener.run(
            {channel: handle},
            policy=asyncpg_listen.ListenPolicy.ALL,
            notification_timeout=asyncpg_listen.NO_TIMEOUT,
        )
    )
    counter.keep += [listener, task]
    await connected.wait()
    return lambda: 0


async def _pgext(dsn: str, channel: str, counter: Counter) -> Callable[[], int]:
    from pgext.engine import PgextEngine
    from pgext.pubsub import Channel, Hub, Message

    hub = Hub(PgextEngine(config={"dsn": dsn}))
    # Typed validation on, as the docs use it; a queue big enough that a
    # round never drops (drops are reported).
    sub = await hub.subscribe(Channel(channel, Probe), queue_size=1_000_000).ready()

    async def consume() -> None:
        async for event in sub:
            if isinstance(event, Message):
                counter.seen(event.data.ts)

    counter.keep += [hub, asyncio.get_running_loop().create_task(consume())]
    return lambda: int(sub.stats()["dropped"])


STARTERS: dict[str, Start] = {
    "raw": _raw,
    "broadcaster": _broadcaster,
    "asyncpg-listen": _asyncpg_listen,
    "pgext": _pgext,
}


async def _lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


async def listen_main(kind: str, dsn: str, channel: str) -> None:
    counter = Counter()
    dropped = await STARTERS[kind](dsn, channel, counter)
    import pgext  # which tree: the bench checks "before" is the old one

    print("ready", Path(pgext.__file__).parent, flush=True)
    reader = await _lines()
    while line := await reader.readline():
        counter.expect(int(line.split()[1]))
        cpu = time.process_time()
        print("ok", flush=True)
        await counter.done.wait()
        cpu = time.process_time() - cpu
        q = statistics.quantiles(counter.latencies, n=100, method="inclusive")
        print(f"done {cpu} {q[49]} {q[98]} {dropped()}", flush=True)


_ONE = "SELECT pg_notify($1, $2)"
_MANY = "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x"


class _Send:
    """One ``send`` command."""

    def __init__(self, line: str, hub: Any) -> None:
        from pgext.pubsub import Channel

        _, self.channel, *numbers, self.style = line.split()
        count, per, self.rate, connections = (float(v) for v in numbers)
        self.per, self.connections = int(per), int(connections)
        self.statements = int(count) // self.per // self.connections
        self.typed = Channel(self.channel, Probe)
        self.hub = hub
        self.started = time.perf_counter()

    async def write(self, w: int, conn: Any) -> None:
        from pgext.pubsub import envelope

        for k in range(self.statements):
            if self.rate:
                due = (k * self.connections + w) * self.per / self.rate
                delay = self.started + due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            now = time.time()
            if self.style == "hub":
                body = Probe(n=k, ts=now, pad=_pad(k, now))
                await self.hub.publish(self.typed, body, connection=conn)
                continue
            # Distinct texts: NOTIFY folds identical ones of a transaction.
            first = k * self.per
            texts = [payload(first + i, now) for i in range(self.per)]
            if self.style == "envelope":
                texts = [envelope.wrap(text, now) for text in texts]
            if self.per == 1:
                await conn.execute(_ONE, self.channel, texts[0])
            else:
                await conn.execute(_MANY, self.channel, texts)


async def publish_main(dsn: str) -> None:
    from pgext.engine import PgextEngine
    from pgext.pubsub import Hub

    hub = Hub(PgextEngine(config={"dsn": dsn}))
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    reader = await _lines()
    while line := await reader.readline():
        send = _Send(line.decode(), hub)
        writers = conns[: send.connections]
        await asyncio.gather(*(send.write(w, c) for w, c in enumerate(writers)))
        print(f"done {time.perf_counter() - send.started}", flush=True)
    for conn in conns:
        await conn.close()
    await hub.close()


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        asyncio.run(listen_main(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        asyncio.run(publish_main(sys.argv[2]))
