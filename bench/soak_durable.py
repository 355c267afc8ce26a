"""Durable pub/sub soak: lose nothing under load, kills, checkpoints and a
starved CPU.

Several writer processes publish durable messages through ``Hub.publish``
as fast as they can (each on several connections, autocommit), so every
writer process also runs a relay (stamper); a subscriber process follows the
channel.  Meanwhile client backends are terminated at random (writers,
relays, the listener, readers), checkpoints are forced (each makes the next
``nextval`` pre-log, which is when the old sequence read went wrong) and
busy processes starve the CPU.

The truth is the database: every outbox row of the channel committed.  The
report counts lost (committed, never received), duplicated (allowed:
at-least-once), reordered (a new message after a later position) and
unnumbered rows (``pgext_outbox_unnumbered``), and checks that each
connection's messages were numbered in the order it committed them::

    python -m bench.soak_durable --dsn postgres://... --messages 1000000
    python -m bench.soak_durable --crashes 20 --messages 300000

(the second on a durable server of its own, crashed every 20 s: see
bench/soak_crashes.py).

Results go to ``bench/results/soak_durable.json``.  tests/pubsub runs a
short, bounded soak in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel

from bench.soak_checks import TRUTH_SQL, acknowledged, committed_positions, verify
from bench.soak_crashes import Control, crash_now_and_then, start_durable_server
from pgext.harness.postgres import LocalPostgres

RESULTS = Path(__file__).parent / "results"
# The soak's own connections, which the chaos spares.
CONTROL = {"application_name": "pgext-soak-control"}


class Stamp(BaseModel):
    w: int  # writer process
    c: int  # connection within it
    s: int  # sequence number on that connection


def say(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


# -- writer process -------------------------------------------------------------


async def writer_main(args: argparse.Namespace) -> None:
    from pgext.engine import PgextEngine
    from pgext.pubsub import Channel, Hub

    engine = PgextEngine(config={"dsn": args.dsn})
    channel = Channel(args.channel, Stamp, durable=True)
    deadline = time.monotonic() + args.seconds
    quota = args.messages
    sent = errors = hung = 0
    # (connection, seq) of every publish that returned: told committed, so
    # it must be in the outbox whatever crashed afterwards.
    acked: list[tuple[int, int]] = []

    async with Hub(engine, poll_interval=0.5, check_interval=1.0) as hub:

        async def connection_loop(c: int) -> None:
            nonlocal sent, errors, hung, quota
            conn: Any = None
            s = 0
            while time.monotonic() < deadline and quota > 0:
                try:
                    if conn is None or conn.is_closed():
                        conn = await engine.get_new_connection()
                    quota -= 1
                    s += 1
                    await asyncio.wait_for(
                        hub.publish(
                            channel, {"w": args.wid, "c": c, "s": s}, connection=conn
                        ),
                        30,
                    )
                    sent += 1
                    acked.append((c, s))
                except asyncio.TimeoutError:
                    # A publish that hangs is a defect to report, not hide.
                    hung += 1
                    errors += 1
                    if conn is not None:
                        conn.terminate()
                    conn = None
                except Exception:
                    # A killed backend: the statement may or may not have
                    # committed.  The outbox is the truth; go on with s + 1.
                    errors += 1
                    if conn is not None:
                        conn.terminate()
                    conn = None
                    await asyncio.sleep(0.01)
            if conn is not None:
                conn.terminate()

        await asyncio.gather(*(connection_loop(c) for c in range(args.conns)))
        with contextlib.suppress(Exception):
            await hub.flush(timeout=5)
    # To a file: a list this long would fill the stdout pipe, which the soak
    # reads only once the writer has ended.
    Path(args.out).write_text("".join(f"{c} {s}\n" for c, s in acked))
    print(json.dumps({"sent": sent, "errors": errors, "hung": hung}), flush=True)


# -- subscriber process -----------------------------------------------------------


async def subscriber_main(args: argparse.Namespace) -> None:
    from pgext.engine import PgextEngine
    from pgext.pubsub import Channel, Hub, Message

    engine = PgextEngine(config={"dsn": args.dsn})
    channel = Channel(args.channel, Stamp, durable=True)
    out = open(args.out, "w")  # noqa: SIM115  (closed below, flushed often)
    received = other = 0
    async with Hub(
        engine, poll_interval=0.5, check_interval=1.0, reconnect_delay=(0.02, 0.5)
    ) as hub:
        sub = await hub.subscribe(channel, queue_size=10_000).ready()
        print("ready", flush=True)
        stop = asyncio.get_running_loop().create_task(
            asyncio.to_thread(sys.stdin.readline)
        )
        last_flush = time.monotonic()
        while not stop.done():
            try:
                event = await sub.get(timeout=0.2)
            except asyncio.TimeoutError:
                event = None
            if isinstance(event, Message):
                d = event.data
                out.write(f"{event.id} {d.w} {d.c} {d.s}\n")
                received += 1
            elif event is not None:
                other += 1
            if time.monotonic() - last_flush > 0.2:
                out.flush()
                last_flush = time.monotonic()
        out.close()
        fetcher = sub._fetcher
        follow = "running"
        if fetcher is not None and fetcher.done():
            cancelled = fetcher.cancelled()
            follow = "cancelled" if cancelled else repr(fetcher.exception())
        report = {"received": received, "other": other, "follow": follow}
        print(json.dumps({**report, **hub.stats()}))


# -- orchestrator -------------------------------------------------------------------


async def spawn(*argv: str, stdin: bool = False) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.soak_durable",
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )


async def finish(proc: asyncio.subprocess.Process, limit: float) -> dict[str, Any]:
    """A child's closing JSON line; ``{"stuck": true}`` if it had not ended
    within ``limit`` seconds (then it is killed): the soak itself never
    hangs, and says which part did."""
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return {"stuck": True}
    lines = out.decode().strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {"stuck": True}
    return report


async def chaos(dsn: str, args: argparse.Namespace, counts: dict[str, int]) -> None:
    conn = Control(dsn, CONTROL)
    rng = random.Random(args.seed)
    next_kill = time.monotonic() + args.kill_every
    try:
        while True:
            await conn.execute("CHECKPOINT")
            counts["checkpoints"] += 1
            if args.kill_every and time.monotonic() >= next_kill:
                pids = await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = "
                    "current_database() AND backend_type = 'client backend' "
                    "AND application_name <> $1",
                    CONTROL["application_name"],
                )
                if pids:
                    pid = rng.choice(pids)["pid"]
                    await conn.execute("SELECT pg_terminate_backend($1)", pid)
                    counts["kills"] += 1
                next_kill = time.monotonic() + args.kill_every
            await asyncio.sleep(args.checkpoint_every)
    finally:
        await conn.close()


async def unnumbered(conn: Any) -> int | None:
    """None where the schema predates the view (pgext 0.1.0)."""
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM pgext_outbox_unnumbered")
    except asyncpg.UndefinedTableError:
        return None
    return count


async def describe_server(conn: Any) -> dict[str, Any]:
    return {
        "version": await conn.fetchval("SELECT version()"),
        "extensions": {
            r["extname"]: r["extversion"]
            for r in await conn.fetch("SELECT extname, extversion FROM pg_extension")
        },
        "fsync": await conn.fetchval("SHOW fsync"),
        "synchronous_commit": await conn.fetchval("SHOW synchronous_commit"),
        "client_cores": os.cpu_count(),
    }


async def main(
    args: argparse.Namespace, server: LocalPostgres | None = None
) -> dict[str, Any]:
    from pgext.engine import PgextEngine
    from pgext.pubsub import install_schema

    engine = PgextEngine(config={"dsn": args.dsn})
    await install_schema(engine)
    channel = f"soak_{os.getpid()}_{int(time.time())}"
    out = Path(tempfile.mkdtemp(prefix="pgext-soak-")) / "received.txt"
    where = ["--dsn", args.dsn, "--channel", channel]
    subscriber = await spawn("subscriber", *where, "--out", str(out), stdin=True)
    assert subscriber.stdout is not None and subscriber.stdin is not None
    await asyncio.wait_for(subscriber.stdout.readline(), 30)
    busy = [sys.executable, "-c", "while True: pass"]
    starvers = [
        await asyncio.create_subprocess_exec(*busy, stdout=asyncio.subprocess.DEVNULL)
        for _ in range(args.starve)
    ]
    counts = {"kills": 0, "checkpoints": 0, "crashes": 0}
    chaos_task = asyncio.create_task(chaos(args.dsn, args, counts))
    per_proc = -(-args.messages // args.writer_procs)
    started = time.monotonic()
    common = ["--dsn", args.dsn, "--channel", channel, "--conns", str(args.conns)]
    limits = ["--messages", str(per_proc), "--seconds", str(args.seconds)]
    acks = [out.with_name(f"acked-{w}.txt") for w in range(args.writer_procs)]
    writers = [
        await spawn("writer", *common, *limits, "--wid", str(w), "--out", str(acks[w]))
        for w in range(args.writer_procs)
    ]
    admin = Control(args.dsn, CONTROL)
    crashing = None
    if args.crashes:
        assert server is not None
        crashing = asyncio.create_task(crash_now_and_then(server, args.crashes, counts))
    try:
        give_up = started + args.seconds + 60
        while any(p.returncode is None for p in writers) and time.monotonic() < give_up:
            await asyncio.sleep(5)
            done = await admin.fetchval(
                "SELECT count(*) FROM pgext_outbox WHERE channel = $1", channel
            )
            rate = done / (time.monotonic() - started)
            say(f"{done:,} committed ({rate:,.0f}/s), {counts['kills']} kills")
        published = time.monotonic() - started
        for task in (chaos_task, crashing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for p in starvers:
            p.kill()
        writer_reports = [await finish(p, 60) for p in writers]
        committed = await admin.fetchval(
            "SELECT count(*) FROM pgext_outbox WHERE channel = $1", channel
        )
        # Let the subscriber catch up (relays poll; nothing is kicked now).
        drain_started = time.monotonic()
        while time.monotonic() < drain_started + args.drain:
            lines = sum(1 for _ in out.open()) if out.exists() else 0
            if lines >= committed:
                break
            say(f"draining: {lines:,} of {committed:,} received")
            await asyncio.sleep(1)
        drained = time.monotonic() - drain_started
        subscriber.stdin.write(b"stop\n")
        await subscriber.stdin.drain()
        sub_report = await finish(subscriber, 30)
        arrivals = [
            (int(a), int(b), int(c), int(d))
            for a, b, c, d in (line.split() for line in out.open())
        ]
        committed_rows = committed_positions(await admin.fetch(TRUTH_SQL, channel))
        report = {
            "messages_requested": args.messages,
            "publish_seconds": round(published, 1),
            "drain_seconds": round(drained, 1),
            "writer_procs": args.writer_procs,
            "connections_per_writer": args.conns,
            "starving_procs": args.starve,
            **counts,
            "writer_errors": sum(r.get("errors", 0) for r in writer_reports),
            "publishes_hung": sum(r.get("hung", 0) for r in writer_reports),
            "children_stuck": sum(
                1 for r in [*writer_reports, sub_report] if r.get("stuck")
            ),
            "subscriber_reconnects": sub_report.get("reconnects"),
            "subscriber_follow_task": sub_report.get("follow"),
            **verify(committed_rows, arrivals),
            **acknowledged(committed_rows, acks),
            "unnumbered_rows": await unnumbered(admin),
            "server": await describe_server(admin),
        }
    finally:
        await admin.close()
        for p in [*writers, *starvers, subscriber]:
            if p.returncode is None:
                p.kill()
    return report


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_durable")
    parser.add_argument("role", nargs="?", default="soak")
    parser.add_argument("--dsn", help="required unless --crashes")
    parser.add_argument(
        "--crashes",
        type=float,
        default=0,
        metavar="EVERY",
        help="run on a durable server of the soak's own, crashed every EVERY s",
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--writer-procs", type=int, default=4)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--starve", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=float, default=0.25)
    parser.add_argument("--drain", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", default=str(RESULTS / "soak_durable.json"))
    # Child roles.
    parser.add_argument("--channel")
    parser.add_argument("--wid", type=int, default=0)
    parser.add_argument("--out")
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.role == "writer":
        asyncio.run(writer_main(args))
        return 0
    if args.role == "subscriber":
        asyncio.run(subscriber_main(args))
        return 0
    server = None
    if args.crashes:
        server = start_durable_server()
        args.dsn = server.dsn
    elif not args.dsn:
        raise SystemExit("--dsn is required (or --crashes EVERY)")
    try:
        report = asyncio.run(main(args, server))
    finally:
        if server is not None:
            server.stop()
    text = json.dumps(report, indent=2)
    print(text)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(text + "\n")
    bad = report["lost"] or report["reordered"] or report["misnumbered"]
    bad = bad or report["publishes_hung"] or report["children_stuck"]
    bad = bad or report["acknowledged_missing"]
    return 1 if bad or report["unnumbered_rows"] else 0


if __name__ == "__main__":
    sys.exit(cli())
