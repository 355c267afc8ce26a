"""Pub/sub delivery side by side (issue 20): raw asyncpg ``add_listener``,
broadcaster (postgres backend), asyncpg-listen and a pgext typed plain
subscription, before and after the burst-wise delivery, in one run.

Jobs (payloads of 64 bytes; every consumer parses each message and reads its
send stamp; pgext validates it into a pydantic model):

* throughput, 4 publisher connections x 1 NOTIFY per statement;
* throughput, 4 publisher connections x 50 NOTIFYs per statement;
* latency at 1,000 msg/s from one connection, 1 NOTIFY per statement.

Every contender is a child process (:mod:`bench.pubsub_contenders`) with its
own LISTEN connection and channel; one publisher process feeds whichever is
being measured, the others idle.  Each receives what its own publisher
would send: the bare JSON for the others, pgext's envelope for pgext (sent
by raw SQL, so delivery is measured on its own; the rows "pgext publisher"
use ``hub.publish`` and so include the publishing side).

"Before" is pgext at the commit before this work (``PGEXT_BENCH_BEFORE``
overrides), extracted with ``git archive`` and imported ahead of the
current tree in its child process.  Per round, the notes record each
contender's CPU per message (process time while it consumed / messages) and
the load average.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.runner import JobResult, compare, progress

if TYPE_CHECKING:
    from bench.run import BenchContext

ROOT = Path(__file__).resolve().parent.parent
# The last commit before burst-wise delivery.
BEFORE_REF = os.environ.get(
    "PGEXT_BENCH_BEFORE", "1316dff8edff4310f40edc3e2be8364b228a9fac"
)
RAW = "raw asyncpg add_listener"
BROADCASTER = "broadcaster"
ASYNCPG_LISTEN = "asyncpg-listen"


class Child:
    """A contender process, driven over stdin/stdout."""

    def __init__(self, args: list[str], pythonpath: str | None = None) -> None:
        self.args = args
        self.pythonpath = pythonpath
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Child:
        env = dict(os.environ)
        # ``python -m`` puts the working directory first on sys.path: the
        # "before" tree's pgext shadows the current one from there, while
        # bench/ still comes from the current tree.
        env["PYTHONPATH"] = str(ROOT)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.pubsub_contenders",
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=self.pythonpath or ROOT,
            env=env,
        )
        return self

    async def say(self, line: str) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def hear(self, timeout: float = 120) -> list[str]:
        assert self.proc and self.proc.stdout
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"contender {self.args[:2]} exited")
        return line.decode().split()

    async def close(self) -> None:
        if self.proc and self.proc.stdin:
            self.proc.stdin.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 10)
            if self.proc.returncode is None:
                self.proc.kill()


class Contender:
    def __init__(
        self, name: str, kind: str, style: str, pythonpath: str | None = None
    ) -> None:
        self.name, self.kind, self.style = name, kind, style
        self.pythonpath = pythonpath
        self.channel = "bench_deliver_" + "".join(
            c if c.isalnum() else "_" for c in name
        )
        self.child: Child | None = None
        # Per measured round: CPU s/msg, p50 s, p99 s, drops, publisher s.
        self.rounds: list[tuple[float, float, float, int, float]] = []

    async def start(self, dsn: str) -> None:
        args = ["listen", self.kind, dsn, self.channel]
        self.child = await Child(args, self.pythonpath).start()
        ready, source = await self.child.hear(60)
        tree = Path(self.pythonpath or ROOT).resolve()
        if ready != "ready" or Path(source).resolve() != tree / "pgext":
            raise RuntimeError(f"{self.name}: pgext imported from {source}")

    def note(self) -> str:
        rounds = self.rounds
        if not rounds:
            return f"{self.name}: no rounds"
        cpu = statistics.median(r[0] for r in rounds) * 1e6
        p50 = statistics.median(r[1] for r in rounds) * 1e3
        p99 = statistics.median(r[2] for r in rounds) * 1e3
        drops = sum(r[3] for r in rounds)
        return (
            f"{self.name}: CPU {cpu:.2f} us/msg, latency p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms" + (f", {drops} dropped" if drops else "")
        )


def _round(
    contender: Contender,
    publisher: Child,
    count: int,
    per: int,
    rate: float,
    connections: int,
    measured: list[int],
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        child = contender.child
        assert child is not None
        await child.say(f"expect {count}")
        assert (await child.hear()) == ["ok"]
        style = contender.style
        await publisher.say(
            f"send {contender.channel} {count} {per} {rate} {connections} {style}"
        )
        done = await child.hear()
        sent = await publisher.hear()
        measured[0] += 1
        if measured[0] > 0:  # the runner keeps rounds after the warm-up
            cpu, p50, p99, drops = (float(v) for v in done[1:])
            contender.rounds.append((cpu / count, p50, p99, int(drops), float(sent[1])))

    return run


def _extract_before() -> str | None:
    """The "before" source tree, or None when git cannot provide it."""
    target = tempfile.mkdtemp(prefix="pgext-before-")
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BEFORE_REF, "pgext"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        progress(f"no 'before' contenders: {error}")
        return None
    return target


def _notes(contenders: list[Contender], count: int, loads: list[float]) -> str:
    """Per contender: CPU per message, latency and its ratio to raw's, the
    publisher's own rate where pgext publishes; then the load."""
    raw_p50 = statistics.median(r[1] for r in contenders[0].rounds)
    parts = []
    for contender in contenders:
        text = contender.note()
        p50 = statistics.median(r[1] for r in contender.rounds)
        text += f" ({p50 / raw_p50:.2f}x raw's p50)"
        if contender.style == "hub":
            seconds = statistics.median(r[4] for r in contender.rounds)
            text += f", its publisher sent {count / seconds:,.0f} msg/s"
        parts.append(text)
    return (
        "Per contender (medians over rounds): "
        + "; ".join(parts)
        + f". 1-minute load average before each round: min {min(loads):.2f}, "
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f} "
        f"({os.cpu_count()} cores)."
    )


def _contenders(before: str | None, hub_rows: bool) -> list[Contender]:
    found = [
        Contender(RAW, "raw", "json"),
        Contender(BROADCASTER, "broadcaster", "json"),
        Contender(ASYNCPG_LISTEN, "asyncpg-listen", "json"),
    ]
    if before:
        found.append(Contender("pgext before", "pgext", "envelope", before))
    found.append(Contender("pgext after", "pgext", "envelope"))
    if hub_rows:
        if before:
            found.append(
                Contender("pgext before, pgext publisher", "pgext", "hub", before)
            )
        found.append(Contender("pgext after, pgext publisher", "pgext", "hub"))
    return found


async def _job(
    ctx: BenchContext,
    config: dict[str, Any],
    before: str | None,
    title: str,
    *,
    count: int,
    per: int,
    rate: float,
    connections: int,
    goal: str,
    hub_rows: bool,
) -> JobResult:
    contenders = _contenders(before, hub_rows)
    publisher = await Child(["publish", config["dsn"]]).start()
    loads: list[float] = []
    try:
        for contender in contenders:
            await contender.start(config["dsn"])
        warmup = 1
        jobs = {}
        for contender in contenders:
            # Starts at -warmup: rounds counted > 0 are the measured ones.
            measured = [-warmup]
            jobs[contender.name] = _round(
                contender, publisher, count, per, rate, connections, measured
            )

        async def sample_load() -> None:
            loads.append(os.getloadavg()[0])

        result = await compare(
            title,
            jobs,
            baseline=RAW,
            anchors=[BROADCASTER, ASYNCPG_LISTEN],
            units=count,
            unit_name="msg",
            server=await ctx.describe(config),
            repeat=ctx.size(3, 2),
            warmup=warmup,
            before_each=sample_load,
            rotate=True,
        )
    finally:
        await publisher.close()
        for contender in contenders:
            if contender.child is not None:
                await contender.child.close()
    result.notes = f"Goal: {goal}. " + _notes(contenders, count, loads)
    progress(result.notes)
    return result


async def run(ctx: BenchContext) -> list[JobResult]:
    config = ctx.postgres_config
    if config is None:
        return []
    before = _extract_before()
    try:
        return await _jobs(ctx, config, before)
    finally:
        if before:
            shutil.rmtree(before, ignore_errors=True)


async def _jobs(
    ctx: BenchContext, config: dict[str, Any], before: str | None
) -> list[JobResult]:
    started = time.monotonic()
    results = [
        await _job(
            ctx,
            config,
            before,
            "delivered/s: 4 publisher connections x 1 NOTIFY per statement, 64 B",
            count=ctx.size(8_000, 4_000),
            per=1,
            rate=0,
            connections=4,
            goal="pgext after >= 0.9x raw asyncpg",
            hub_rows=True,
        ),
        await _job(
            ctx,
            config,
            before,
            "delivered/s: 4 publisher connections x 50 NOTIFYs per statement, 64 B",
            count=ctx.size(50_000, 20_000),
            per=50,
            rate=0,
            connections=4,
            goal="pgext after >= 0.61x raw asyncpg (and >= broadcaster)",
            hub_rows=False,
        ),
        await _job(
            ctx,
            config,
            before,
            "latency at 1,000 msg/s, 1 connection x 1 NOTIFY per statement, 64 B",
            count=ctx.size(2_000, 1_000),
            per=1,
            rate=1000,
            connections=1,
            goal="pgext after p50 latency <= 1.1x raw asyncpg's",
            hub_rows=True,
        ),
    ]
    progress(f"pub/sub delivery: {time.monotonic() - started:.0f}s")
    return results
