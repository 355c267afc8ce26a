"""Issues 8 and 15: commits/s of small transactions under 1-32 writers,
(a) no publishing, (b) plain, (c) durable, (c0) the bare-outbox floor,
and the durable latency at 1,000 msg/s (see bench_pubsub's docstring and
bench/README.md).  ``python -m bench.run_writers`` runs only these."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from bench.pubsub_processes import (
    DURABLE,
    PLAIN,
    Order,
    SubscriberProcess,
    percentiles,
)
from bench.pubsub_writers import (
    SERVER_KINDS,
    WRITER_COUNTS,
    WritersMeter,
    load,
    stats_server,
)
from bench.runner import JobResult, compare, progress
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message, install_schema

if TYPE_CHECKING:
    from bench.run import BenchContext

# -- issue 8: publishing under many writers --

ORDERS_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_pubsub_orders "
    "(id bigserial PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, "
    "total numeric NOT NULL)"
)
INSERT_ORDER = (
    "INSERT INTO bench_pubsub_orders (writer, seq, total) VALUES ($1, $2, $3)"
)
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
# The floor again, its payload made the way pgext makes it (a model
# instance built, checked and serialised by the channel): what a typed
# payload costs before any of pgext's publishing.  Measured at the top
# writer count only.
FLOOR_ENCODED = "(c0e) floor, payload from the channel's model"
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

    async def c0e(conn: Any, w: int, seq: int) -> None:
        text = DURABLE.encode(Order(writer=w, seq=seq, ts=time.time()))
        await conn.execute(FLOOR_ALONG, w, seq, 9.5, DURABLE.name, text)

    return {
        "(a) no publishing": a,
        "(b) NOTIFY per transaction": b,
        "(c) pgext durable": c,
        FLOOR: c0,
        FLOOR_ENCODED: c0e,
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


@dataclass(frozen=True)
class WritersPlan:
    """What to measure; the defaults are the whole curve (``bench.run``).
    ``rounds``/``seconds`` of None: the benchmark's sizes (3, or 2 with
    --quick; 3 s, or 1 s)."""

    kinds: tuple[str, ...] = SERVER_KINDS
    writers: tuple[int, ...] = WRITER_COUNTS
    rounds: int | None = None
    seconds: int | None = None
    #: The BEGIN; INSERT; publish; COMMIT style too (at 1, 8, 32 writers).
    transactions: bool = True
    #: The latency at 1,000 msg/s, on each kind of server.
    latency: bool = True


async def writers_jobs(
    ctx: BenchContext, config: dict[str, Any], plan: WritersPlan | None = None
) -> list[JobResult]:
    """The curve on each kind of server (see SERVER_KINDS), each followed
    by the latency job."""
    plan = plan or WritersPlan()
    results: list[JobResult] = []
    for kind in plan.kinds:
        async with stats_server(config, kind) as server:
            if server is not None:
                results += await _writers_jobs(ctx, server, kind, plan)
    return results


async def _writers_jobs(
    ctx: BenchContext, config: dict[str, Any], kind: str, plan: WritersPlan
) -> list[JobResult]:
    engine = PgextEngine(config=config)
    await engine.start_connection_pool(min_size=1, max_size=2)
    await install_schema(engine)
    async with engine.connection() as conn:
        for ddl in (ORDERS_DDL, *FLOOR_DDL):
            await conn.execute(ddl)
        await conn.execute("TRUNCATE bench_pubsub_orders, bench_outbox_floor")
    hub = Hub(engine)
    seconds = plan.seconds or ctx.size(3, 1)
    rounds = plan.rounds or ctx.size(3, 2)
    results: list[JobResult] = []
    # One subscriber per variant, attached throughout, as in production.
    subscribers = await SubscriberProcess(config["dsn"]).start()
    assert subscribers.proc is not None
    meter = await WritersMeter.start(config, subscribers.proc.pid)
    conns: list[Any] = []
    _SEQUENCES.clear()  # a new server, and a new subscriber process

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
        styles = [("one statement per transaction", _one_statement(hub), plan.writers)]
        if plan.transactions:
            styles.append(
                ("BEGIN; INSERT; publish; COMMIT", _transaction(hub), (1, 8, 32))
            )
        for style, variants, counts_of_writers in styles:
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
                    if name != FLOOR_ENCODED or writers == max(counts_of_writers)
                }
                result = await compare(
                    f"commits/s ({kind} server): {style}, {writers} writer(s), "
                    f"{seconds}s rounds",
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
                    "server_kind": kind,
                    "writers": writers,
                    "style": style,
                    "variants": {
                        name: meter.summary(writers, f"{style}: {name}")
                        for name in jobs
                    },
                }
                result.notes = f"{kind} server. " + _writers_note(
                    result.details["variants"]
                )
                progress(result.notes)
                results.append(result)
                for conn in conns:
                    await conn.close()
        await hub.flush()
        results[-1].notes += await _delivery_check(subscribers, sent)
        if plan.latency:
            results.append(await durable_latency(ctx, hub, config, kind))
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
        # (c) does all that (c0) does and delivers too, so (c0)/(b) is the
        # most (c)/(b) can reach on this server.
        ratios += (
            f", (c)/(c0) {rate['(c) pgext durable'] / rate[FLOOR]:.2f}"
            f", (c0)/(b) {rate[FLOOR] / rate['(b) NOTIFY per transaction']:.2f}"
        )
    if FLOOR_ENCODED in rate:
        ratios += f", (c0e)/(c0) {rate[FLOOR_ENCODED] / rate[FLOOR]:.2f}"
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
    ctx: BenchContext, hub: Hub, config: dict[str, Any], kind: str
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
            f"(c) pgext durable ({kind} server): {count} msgs at {rate:,}/s "
            f"from {writers} writers",
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
