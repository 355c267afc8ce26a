"""Measuring the many-writers benchmark of bench_pubsub (issues 8 and 15):
per variant and writer count, commits/s, CPU per commit (this process, the
subscriber process, the server's backends) and, with pg_stat_statements,
server time per statement.

pg_stat_statements must be preloaded, so when the given server lacks it
the benchmark starts a throwaway server of its own that has it (same
PostgreSQL build, the harness's settings) and describes that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench.runner import progress
from pgext.errors import ServerError
from pgext.harness.postgres import LocalPostgres

WRITER_COUNTS = (1, 2, 4, 8, 16, 32)
STATS_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    # Top-level statements only: tracking those inside functions would
    # cost (c) (the stamp function) more than the others.
    "pg_stat_statements.track": "top",
}
# The servers the curve is measured on.  "durable" is what production runs
# (fsync and synchronous_commit on): a commit waits for its WAL flush, many
# writers share flushes (group commit), and NOTIFY's commit lock is held
# across the notifying transaction's flush.  "fsync off" is the harness's
# throwaway setting: commits cost CPU only, which hides that lock and is
# the hardest case for (c) against (b).
DURABLE = "durable"
FSYNC_OFF = "fsync off"
SERVER_KINDS = (DURABLE, FSYNC_OFF)
DURABLE_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
}
_STATEMENTS_SQL = """
SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, calls,
       total_exec_time AS ms
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '%pg_stat_%'
"""
_BACKENDS_SQL = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
"""


async def _fits(config: dict[str, Any], kind: str) -> bool:
    """Whether the server of ``config`` has pg_stat_statements and is of
    ``kind`` (durable: fsync and synchronous_commit on)."""
    conn = await asyncpg.connect(**config)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.fetchval("SELECT count(*) FROM pg_stat_statements")
        durable = await conn.fetchval(
            "SELECT current_setting('fsync') = 'on' "
            "AND current_setting('synchronous_commit') <> 'off'"
        )
        return bool(durable) == (kind == DURABLE)
    except asyncpg.PostgresError:
        return False
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def stats_server(
    config: dict[str, Any], kind: str = FSYNC_OFF
) -> AsyncIterator[dict[str, Any] | None]:
    """``config`` if its server has pg_stat_statements and is of ``kind``,
    else the config of a throwaway local server started so (same
    PostgreSQL build, its data on this machine's disk).  None when no such
    server can be started: that kind is then not measured."""
    if await _fits(config, kind):
        yield config
        return
    settings = {**STATS_SETTINGS, **(DURABLE_SETTINGS if kind == DURABLE else {})}
    try:
        server = await asyncio.to_thread(
            LocalPostgres(settings=settings, extensions=("pg_stat_statements",)).start
        )
    except (ServerError, OSError) as error:
        progress(f"no {kind} server with pg_stat_statements ({error}): not measured")
        yield None
        return
    try:
        yield server.config()
    finally:
        await asyncio.to_thread(server.stop)


def _cpu_by_pid(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not this host's, or gone
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_by_pid(pids).values())


# The parts the server's CPU is split into (see WritersMeter.roles).
SERVER_PARTS = ("writers", "relay", "listener", "other")


@dataclass
class Run:
    commits: int
    seconds: float
    client_cpu: float
    subscriber_cpu: float
    server_cpu: float
    statements: dict[str, tuple[int, float]]
    server_parts: dict[str, float] = field(default_factory=dict)


@dataclass
class WritersMeter:
    """Wraps each variant's job to record a :class:`Run` per round."""

    control: Any
    subscriber_pid: int | None
    statements: bool
    runs: dict[tuple[int, str], list[Run]] = field(default_factory=dict)
    #: Names the server's backends: pid -> one of SERVER_PARTS (the
    #: writers' connections, the writers' process's relay, the subscriber's
    #: LISTEN connection); asked before each round, as pids change.
    roles: Callable[[], Awaitable[dict[int, str]]] | None = None

    @classmethod
    async def start(
        cls, config: dict[str, Any], subscriber_pid: int | None
    ) -> WritersMeter:
        control = await asyncpg.connect(**config)
        has = await control.fetchval(
            "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        )
        return cls(control, subscriber_pid, bool(has))

    async def close(self) -> None:
        await self.control.close()

    def wrap(
        self,
        writers: int,
        name: str,
        job: Callable[[], Awaitable[None]],
        counts: dict[str, int],
        counted_as: str,
    ) -> Callable[[], Awaitable[None]]:
        """``job`` adds its commits to ``counts[counted_as]``."""

        async def run() -> None:
            pids = [int(r["pid"]) for r in await self.control.fetch(_BACKENDS_SQL)]
            sub = [self.subscriber_pid] if self.subscriber_pid else []
            if self.statements:
                await self.control.execute("SELECT pg_stat_statements_reset()")
            before = counts.get(counted_as, 0)
            roles = await self.roles() if self.roles is not None else {}
            backends = _cpu_by_pid(pids)
            cpu = (time.process_time(), _cpu_seconds(sub))
            started = time.perf_counter()
            await job()
            seconds = time.perf_counter() - started
            backends_after = _cpu_by_pid(pids)
            after = (time.process_time(), _cpu_seconds(sub))
            parts = dict.fromkeys(SERVER_PARTS, 0.0)
            for pid, used in backends_after.items():
                part = roles.get(pid, "other")
                parts[part] += used - backends.get(pid, used)
            statements = {}
            if self.statements:
                for row in await self.control.fetch(_STATEMENTS_SQL):
                    statements[row["query"]] = (int(row["calls"]), float(row["ms"]))
            self.runs.setdefault((writers, name), []).append(
                Run(
                    counts.get(counted_as, 0) - before,
                    seconds,
                    after[0] - cpu[0],
                    after[1] - cpu[1],
                    sum(parts.values()),
                    statements,
                    parts,
                )
            )

        return run

    def summary(self, writers: int, name: str, warmup: int = 1) -> dict[str, Any]:
        """Medians over the measured rounds, and the statements that took
        the most server time, per commit."""
        runs = self.runs[(writers, name)][warmup:]
        commits = sum(r.commits for r in runs) or 1
        merged: dict[str, list[float]] = {}
        for r in runs:
            for query, (calls, ms) in r.statements.items():
                entry = merged.setdefault(query, [0.0, 0.0])
                entry[0] += calls
                entry[1] += ms
        top = sorted(merged.items(), key=lambda item: -item[1][1])[:6]
        return {
            "commits_per_s": statistics.median(r.commits / r.seconds for r in runs),
            "cpu_us_per_commit": {
                part: statistics.median(
                    getattr(r, f"{part}_cpu") * 1e6 / max(r.commits, 1) for r in runs
                )
                for part in ("client", "subscriber", "server")
            },
            "server_split_us_per_commit": {
                part: statistics.median(
                    r.server_parts.get(part, 0.0) * 1e6 / max(r.commits, 1)
                    for r in runs
                )
                for part in SERVER_PARTS
            },
            "statements": [
                {
                    "query": query[:160],
                    "calls_per_commit": calls / commits,
                    "us_per_commit": ms * 1000 / commits,
                }
                for query, (calls, ms) in top
            ],
        }


def load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())
