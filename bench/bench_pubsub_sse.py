"""Browser bridge fan-out: many SSE / WebSocket clients of one channel.

The server (uvicorn + Starlette + pgext Bridge + Hub) runs in a child
process so its memory can be measured on its own; the clients (plain asyncio
sockets speaking HTTP/1.1 + SSE, and ``websockets`` clients) and the
publisher run here.  Every message carries the publisher's clock, so each
client computes publish-to-receive latency (same host, same clock).

Jobs:

* fan-out of a series of messages to N clients, SSE vs WebSocket;
* the same to 100 clients with and without one client that never reads its
  socket (it must not slow the others: compare the medians and latencies).

Server memory per client is the child's RSS growth from 1 to N connected
clients, divided by N - 1, and reported in the notes with latency
percentiles and the bridge's counters.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import websockets
from pydantic import BaseModel

from bench.runner import JobResult, compare, progress
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, install_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bench.run import BenchContext

CONFIG_ENV = "PGEXT_BENCH_SSE_CONFIG"
ROOT = Path(__file__).resolve().parents[1]


class Tick(BaseModel):
    n: int
    ts: float
    pad: str = ""


TICKS = Channel("bench_sse_ticks", Tick)


# -- the server (child process) --


def create_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from pgext.pubsub.bridge import Bridge

    config = json.loads(os.environ[CONFIG_ENV])
    engine = PgextEngine(config=config)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub = Hub(engine)
        state["bridge"] = Bridge(hub, [TICKS], queue_size=256, send_timeout=2.0)
        routes = state["bridge"].routes()
        app.router.routes.append(Mount("/live", routes=routes))
        yield
        await state["bridge"].close()
        await hub.close()

    async def stats(request: Any) -> JSONResponse:
        rss = psutil.Process().memory_info().rss
        cpu = time.process_time()
        return JSONResponse({"rss": rss, "cpu": cpu, **state["bridge"].stats()})

    return Starlette(routes=[Route("/stats", stats)], lifespan=lifespan)


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_level="error",
        ws="websockets-sansio",
        ws_ping_interval=None,
        backlog=4096,
        timeout_graceful_shutdown=5,
    )


@asynccontextmanager
async def server_process(config: dict[str, Any]) -> AsyncIterator[tuple[str, int, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, CONFIG_ENV: json.dumps(config)}
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_pubsub_sse", "serve", str(port)],
        cwd=ROOT,
        env=env,
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                try:
                    await http.get(f"http://127.0.0.1:{port}/stats")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the SSE bench server did not start")
        yield "127.0.0.1", port, child.pid
    finally:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()


async def server_stats(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        result: dict[str, Any] = (
            await http.get(f"http://127.0.0.1:{port}/stats")
        ).json()
        return result


# -- clients (this process) --


@dataclass
class Tally:
    """Latencies of every delivery, and messages seen per client."""

    expected: int
    latencies: list[float] = field(default_factory=list)
    complete: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    clients: int = 0

    def record(self, ts: float) -> None:
        self.latencies.append(time.time() - ts)

    def finished(self) -> None:
        self.complete += 1
        if self.complete >= self.clients:
            self.done.set()


async def sse_client(
    host: str, port: int, tally: Tally, ready: Callable[[], None]
) -> None:
    """An SSE client on a bare socket: HTTP/1.1 with a chunked body, each
    chunk holding whole events (as the bridge sends them)."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        writer.write(
            f"GET /live/sse/{TICKS.name} HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        ready()
        seen = 0
        while seen < tally.expected:
            size = int((await reader.readline()).strip(), 16)
            if size == 0:
                break
            chunk = await reader.readexactly(size + 2)
            # A chunk holds one or more events (the bridge batches a
            # client's queued frames into one write).
            for event in chunk.split(b"\r\n\r\n"):
                start = event.find(b"\r\ndata: ")
                if start < 0 or b"event: message" not in event:
                    continue
                tally.record(json.loads(event[start + 8 :].split(b"\r\n")[0])["ts"])
                seen += 1
        tally.finished()
    finally:
        writer.close()


async def ws_client(
    host: str, port: int, tally: Tally, ready: Callable[[], None]
) -> None:
    url = f"ws://{host}:{port}/live/ws/{TICKS.name}"
    async with websockets.connect(url, ping_interval=None, compression=None) as ws:
        ready()
        seen = 0
        while seen < tally.expected:
            frame = json.loads(await ws.recv())
            if frame["type"] != "message":
                continue
            tally.record(frame["data"]["ts"])
            seen += 1
        tally.finished()


async def stalled_client(host: str, port: int) -> socket.socket:
    """Requests the stream and never reads: a tiny receive buffer so the
    server's sends block as soon as its own socket buffer is full."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    await loop.sock_sendall(
        sock, f"GET /live/sse/{TICKS.name} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    )
    return sock


def percentiles(values: list[float]) -> str:
    if not values:
        return "no deliveries"
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return (
        f"p50 {at(0.50):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms over {len(values):,} deliveries"
    )


@dataclass
class Round:
    """One fan-out: connect clients, publish, wait for every delivery."""

    hub: Hub
    host: str
    port: int
    clients: int
    messages: int
    interval: float
    pad: int = 0
    stalled: bool = False
    client: Callable[[str, int, Tally, Callable[[], None]], Awaitable[None]] = (
        sse_client
    )
    tallies: list[Tally] = field(default_factory=list)
    rss: list[tuple[int, int, int]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)

    async def __call__(self) -> None:
        tally = Tally(self.messages, clients=self.clients)
        connected = 0

        def ready() -> None:
            nonlocal connected
            connected += 1

        pid_rss = await server_stats(self.port)
        base_clients = pid_rss["clients"]
        stalled = await stalled_client(self.host, self.port) if self.stalled else None
        tasks = []
        for i in range(self.clients):
            tasks.append(
                asyncio.ensure_future(self.client(self.host, self.port, tally, ready))
            )
            if i % 100 == 99:
                await asyncio.sleep(0.05)
        want = base_clients + self.clients + (1 if stalled else 0)
        deadline = time.monotonic() + 60
        while (await server_stats(self.port))["clients"] < want:
            if time.monotonic() > deadline:
                raise RuntimeError("clients did not connect")
            await asyncio.sleep(0.1)
        connected_stats = await server_stats(self.port)
        rss_connected = connected_stats["rss"]
        pad = "x" * self.pad
        for n in range(self.messages):
            await self.hub.publish(TICKS, Tick(n=n, ts=time.time(), pad=pad))
            await asyncio.sleep(self.interval)
        await asyncio.wait_for(tally.done.wait(), 120)
        after = await server_stats(self.port)
        self.stats = after
        self.cpu.append(after["cpu"] - connected_stats["cpu"])
        self.rss.append((pid_rss["rss"], rss_connected, after["rss"]))
        self.tallies.append(tally)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if stalled is not None:
            stalled.close()
        while (await server_stats(self.port))["clients"] > base_clients:
            await asyncio.sleep(0.05)

    def cpu_note(self) -> str:
        """Server CPU time per delivery while publishing."""
        per = statistics.median(self.cpu) / (self.clients * self.messages)
        return f"server CPU {per * 1e6:.1f} us per delivery"

    def latencies(self) -> list[float]:
        return [x for t in self.tallies for x in t.latencies]

    def memory_note(self) -> str:
        per_client = [
            (connected - before) / self.clients for before, connected, _ in self.rss
        ]
        after = [(done - before) / self.clients for before, _, done in self.rss]
        connected = statistics.median(per_client) / 1024
        return (
            f"server RSS per connected client {connected:.1f} KiB "
            f"(after 5 messages: {statistics.median(after) / 1024:.1f} KiB)"
        )


@asynccontextmanager
async def keep_one_client(host: str, port: int) -> AsyncIterator[None]:
    """Holds one idle client so the channel's shared subscription stays up
    and the RSS baseline includes it."""
    tally = Tally(10**9, clients=1)
    task = asyncio.ensure_future(sse_client(host, port, tally, lambda: None))
    while (await server_stats(port))["clients"] < 1:
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def memory_per_client(
    hub: Hub,
    config: dict[str, Any],
    clients: int,
    client: Callable[[str, int, Tally, Callable[[], None]], Awaitable[None]],
) -> str:
    """RSS growth of a fresh server from 1 to 1 + ``clients`` clients."""
    async with (
        server_process(config) as (host, port, _pid),
        keep_one_client(host, port),
    ):
        probe = Round(hub, host, port, clients, 5, 0.05, client=client)
        await probe()
        return probe.memory_note()


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    engine = PgextEngine(config=config)
    await install_schema(engine)
    await engine.start_connection_pool(min_size=1, max_size=2)
    results: list[JobResult] = []
    fan = ctx.size(1000, 200)
    messages = ctx.size(50, 20)
    try:
        async with Hub(engine) as hub:
            memory = {}
            for name, client in (("SSE", sse_client), ("WebSocket", ws_client)):
                progress(f"pubsub_sse: memory of {fan} {name} clients")
                memory[name] = await memory_per_client(hub, config, fan, client)
            async with (
                server_process(config) as (host, port, _pid),
                keep_one_client(host, port),
            ):
                rounds = {
                    "SSE (pgext bridge)": Round(hub, host, port, fan, messages, 0.2),
                    "WebSocket (pgext bridge)": Round(
                        hub, host, port, fan, messages, 0.2, client=ws_client
                    ),
                }
                progress(f"pubsub_sse: fan-out to {fan} clients")
                result = await compare(
                    f"fan-out of {messages} messages to {fan} clients",
                    rounds,  # type: ignore[arg-type]
                    baseline="SSE (pgext bridge)",
                    repeat=ctx.size(2, 1),
                    warmup=0,
                    units=messages * fan,
                    unit_name="delivery",
                    server=await ctx.describe(config) + "; uvicorn in a child process",
                )
                result.notes = " ".join(
                    f"{name}: {memory[name.split()[0]]}; latency "
                    f"{percentiles(r.latencies())}; {r.cpu_note()}; dropped "
                    f"{r.stats.get('dropped')}, slow disconnects "
                    f"{r.stats.get('slow_disconnects')}."
                    for name, r in rounds.items()
                ) + (
                    " One message every 200 ms; the time includes connecting the"
                    " clients. Clients, publisher and Postgres"
                    " share the 2 cores with the server, so latency includes the"
                    " clients' own queue."
                )
                results.append(result)

            few = ctx.size(100, 50)
            count = ctx.size(1000, 800)
            # 6.5 kB messages: enough data to fill the stalled socket's kernel
            # buffers (Linux grows the sender's to 4 MB) within the round.
            async with (
                server_process(config) as (host, port, _pid),
                keep_one_client(host, port),
            ):
                stall = {
                    f"{few} clients": Round(hub, host, port, few, count, 0.003, 6500),
                    f"{few} clients + 1 stalled": Round(
                        hub, host, port, few, count, 0.003, 6500, stalled=True
                    ),
                }
                progress("pubsub_sse: one stalled client")
                result = await compare(
                    f"{count} messages of 6.5 kB to {few} SSE clients, one stalled",
                    stall,  # type: ignore[arg-type]
                    baseline=f"{few} clients",
                    repeat=ctx.size(2, 1),
                    warmup=0,
                    units=count * few,
                    unit_name="delivery",
                    server=await ctx.describe(config) + "; uvicorn in a child process",
                )
                result.notes = " ".join(
                    f"{name}: latency of the healthy clients "
                    f"{percentiles(r.latencies())}; {r.cpu_note()}; bridge "
                    "counters after the "
                    f"last round: dropped {r.stats.get('dropped')}, slow "
                    f"disconnects {r.stats.get('slow_disconnects')} (cumulative)."
                    for name, r in stall.items()
                )
                results.append(result)
    finally:
        await engine.close_connection_pool()
    for result in results:
        progress(f"{result.job}: {result.notes}")
    return results


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        print("usage: python -m bench.bench_pubsub_sse serve PORT", file=sys.stderr)
        sys.exit(2)
