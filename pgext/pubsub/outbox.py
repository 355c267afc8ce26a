"""Durable publishing without NOTIFY on the writers' commit path.

A writer only INSERTs its message into ``pgext_outbox`` inside its own
transaction.  The hub's :class:`Relay` task then calls
``pgext_outbox_stamp()``, which appends the ids that became visible since its
last round to ``pgext_outbox_batch`` (their positions, in commit order) and
sends ONE wake-up notification for the whole batch.  So NOTIFY's global
commit lock is taken by the relay once per burst instead of by every writer,
no message row is ever updated, and readers that follow positions never miss
a row that committed late with a small sequence id.

The relay learns of local writes through :meth:`Relay.kick`; it cannot see
when the writer's transaction commits, so after a kick it retries with a
short, growing delay until as many rows as were kicked have been stamped (or
``give_up`` passes: the writer rolled back).  Rows written by other processes
or by triggers are picked up by the next kick or by polling every
``poll_interval``; any number of relays (one per process) may run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from pgext.pubsub.errors import CONNECTION_FAILURES

logger = logging.getLogger("pgext.pubsub.relay")

INSERT_SQL = "INSERT INTO pgext_outbox (channel, payload) VALUES ($1, $2)"
# A batch: the id default runs once per row in array order, so the batch's
# ids (and so its positions) follow the order of the array.
INSERT_MANY_SQL = (
    "INSERT INTO pgext_outbox (channel, payload) "
    "SELECT $1, payload FROM unnest($2::text[]) AS payload"
)
STAMP_SQL = "SELECT stamped, more, settled FROM pgext_outbox_stamp($1)"
# The stamp function of schemas installed by pgext before `settled`: such a
# round never says it settled, so the relay waits for its kicks as it did.
LEGACY_STAMP_SQL = "SELECT stamped, more, false AS settled FROM pgext_outbox_stamp($1)"
# Messages of channels $2 at positions after $1, reading at most the batches
# that cover the next $3 positions from the first one retained (so a reader
# of a rare channel still moves on), and none past $4 (NULL: no bound).
# The last row is a marker: (furthest position read, NULL, NULL, NULL).
FETCH_SQL = """
WITH start AS (
    SELECT first_pos FROM pgext_outbox_batch
    WHERE last_pos > $1 ORDER BY last_pos LIMIT 1
), window_ AS (
    SELECT b.first_pos, b.last_pos, b.ids, b.created_at
    FROM pgext_outbox_batch b, start
    WHERE b.last_pos > $1
      AND b.first_pos <= greatest($1, start.first_pos - 1) + $3
      AND b.first_pos <= coalesce($4, b.first_pos)
)
SELECT pos, channel, payload, ts FROM (
    SELECT w.first_pos + t.k - 1 AS pos, o.channel, o.payload,
           extract(epoch FROM w.created_at)::float8 AS ts
    FROM window_ w
    CROSS JOIN LATERAL unnest(w.ids) WITH ORDINALITY AS t(id, k)
    JOIN pgext_outbox o ON o.id = t.id
    WHERE o.channel = ANY($2::text[])
) AS found
WHERE pos > $1 AND pos <= coalesce($4, pos)
UNION ALL
SELECT least(max(last_pos), $4), NULL, NULL, NULL FROM window_
ORDER BY pos, channel NULLS LAST
"""
HEAD_SQL = "SELECT last_pos FROM pgext_outbox_state WHERE singleton"
UNNUMBERED_SQL = "SELECT count(*) FROM pgext_outbox_unnumbered"
REPAIR_SQL = "SELECT repaired FROM pgext_outbox_repair()"
OLDEST_SQL = "SELECT min(first_pos) FROM pgext_outbox_batch"
# Deletes whole batches (their messages with them), so what is retained is
# always a contiguous range of positions.
PRUNE_OUTBOX_SQL = """
WITH old AS (
    DELETE FROM pgext_outbox_batch
    WHERE created_at < clock_timestamp() - $1::interval
    RETURNING ids
)
DELETE FROM pgext_outbox WHERE id IN (SELECT unnest(ids) FROM old)
"""
PRUNE_SPILL_SQL = (
    "DELETE FROM pgext_spill WHERE created_at < clock_timestamp() - $1::interval"
)


@dataclass(frozen=True, slots=True)
class Wake:
    """A relay round's wake-up (or one part of it): positions ``first`` to
    ``last`` are new.  ``payloads`` holds their messages (in position order)
    when they fitted in the notification, else ``None``; ``channel`` names
    the channel of all of them when they share one, else ``channels`` has
    one name per message."""

    first: int
    last: int
    published_at: float | None = None
    channels: list[str] | None = None
    payloads: list[str] | None = None
    channel: str | None = None


def parse_wake(text: str) -> Wake | None:
    """The wake-up notification's payload, or None if it is not one."""
    try:
        body = json.loads(text)
        first, last = int(body["f"]), int(body["l"])
    except (ValueError, TypeError, KeyError):
        return None
    channels, payloads = body.get("c"), body.get("p")
    if not isinstance(payloads, list) or len(payloads) != last - first + 1:
        return Wake(first, last)
    if not all(type(p) is str for p in payloads):
        return Wake(first, last)
    at = body.get("t")
    published = float(at) if isinstance(at, int | float) else None
    if type(channels) is str:
        return Wake(first, last, published, None, payloads, channels)
    if (
        isinstance(channels, list)
        and len(channels) == len(payloads)
        and all(type(c) is str for c in channels)
    ):
        return Wake(first, last, published, channels, payloads)
    return Wake(first, last)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    position: int
    channel: str
    payload: str
    published_at: float


async def read_outbox(
    conn: Any,
    after: int,
    channels: Sequence[str],
    window: int,
    upto: int | None = None,
    *,
    timeout: float | None = None,
) -> tuple[list[OutboxRow], int]:
    """Messages of ``channels`` after position ``after`` (at most ``window``
    positions further, none past ``upto``), and the position read up to:
    the next read starts there even if no row matched."""
    records = await conn.fetch(
        FETCH_SQL, after, list(channels), window, upto, timeout=timeout
    )
    marker = records[-1]["pos"]
    rows = [
        OutboxRow(int(r["pos"]), r["channel"], r["payload"], r["ts"])
        for r in records[:-1]
    ]
    return rows, after if marker is None else int(marker)


class Relay:
    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        *,
        batch: int = 1000,
        window: float = 0.001,
        max_window: float | None = None,
        poll_interval: float = 1.0,
        give_up: float = 5.0,
        timeout: float = 30.0,
    ) -> None:
        self._connect = connect
        self.batch = batch
        self.window = window
        # Under a sustained stream the window doubles each busy round up to
        # this cap (and halves back when the stream thins): fewer, fuller
        # rounds, each a fixed cost on the server and one more wake-up.
        self.max_window = 4 * window if max_window is None else max(max_window, window)
        self.poll_interval = poll_interval
        self.give_up = give_up
        # Rows per second that make a sustained stream, measured over the
        # time since the previous round: then the window widens.  (A rule
        # on rows per round depended on the window it chose, so a stream
        # between two rates could settle in either: many small rounds or
        # few full ones, costing the same stream 3x more rounds.)
        self.busy_rate = 1500.0
        # A half-open connection would otherwise hang a round forever.
        self.timeout = timeout
        self._conn: Any = None
        self._stamp_sql = STAMP_SQL
        self._kicked = asyncio.Event()
        self._pending = 0
        self._last_kick = 0.0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # stamp_once runs from the relay task and from Hub.close.
        self._lock = asyncio.Lock()
        # Observability.
        self.current_window = window
        self.rounds = 0
        self.stamped = 0
        self.errors = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="pgext-pubsub-relay"
            )

    def kick(self, count: int = 1) -> None:
        """A local writer added ``count`` rows (maybe not committed yet)."""
        self._pending += count
        self._last_kick = time.monotonic()
        self._idle.clear()
        self._kicked.set()
        self.start()

    @property
    def backend_pid(self) -> int | None:
        """The server process of the relay's connection, if connected."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return None
        pid: int = conn.get_server_pid()
        return pid

    @property
    def pending(self) -> int:
        """Rows kicked by local writers and not yet seen stamped."""
        return self._pending

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every kicked row is stamped (or given up on)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self._drop_connection()

    def drop_connection(self) -> None:
        """Replace the connection (suspected half-open): a round waiting on
        it fails now and the next one connects anew."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def abort(self) -> None:
        """Stop at once: terminate the connection, cancel the task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.drop_connection()

    async def stamp_once(self) -> int:
        """Stamp everything committed so far; returns how many rows."""
        async with self._lock:
            stamped, _ = await self._stamp_all()
            return stamped

    async def _stamp_all(self) -> tuple[int, bool]:
        """Rounds until nothing more is ready: (rows stamped, settled).
        Settled: every row drawn before the first round began is numbered
        or given up, by this relay or another."""
        total = 0
        while True:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            row = await self._stamp(self._conn)
            self.rounds += 1
            total += int(row["stamped"])
            if not row["more"]:
                break
        self.stamped += total
        return total, bool(row["settled"])

    async def _stamp(self, conn: Any) -> Any:
        try:
            return await conn.fetchrow(
                self._stamp_sql, self.batch, timeout=self.timeout
            )
        except asyncpg.UndefinedColumnError:
            if self._stamp_sql == LEGACY_STAMP_SQL:
                raise
            # pgext was upgraded and its schema steps not run again: keep
            # delivering with the old function rather than stop the relay.
            logger.warning(
                "pgext pub/sub: the outbox schema predates this pgext version; "
                "run pgext.pubsub.install_schema(engine) or the schema "
                "migration steps again (relaying with the old stamp function)"
            )
            self._stamp_sql = LEGACY_STAMP_SQL
            return await conn.fetchrow(
                self._stamp_sql, self.batch, timeout=self.timeout
            )

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()

    async def _run(self) -> None:
        retry = 0.0
        last_round = time.monotonic()
        while True:
            if not self._kicked.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._kicked.wait(), retry or self.poll_interval
                    )
            if self._kicked.is_set() and self.window:
                # The writer that kicked has not committed yet, and more
                # writers may follow: one round after a short window stamps
                # the whole burst and sends one wake-up.
                await asyncio.sleep(self.current_window)
            self._kicked.clear()
            # Kicks so far came before this round's first look at the ids
            # drawn, so a settled round accounts for all of them.
            covered = self._pending
            try:
                async with self._lock:
                    stamped, settled = await self._stamp_all()
            except CONNECTION_FAILURES as error:
                self.errors += 1
                logger.warning("pgext pub/sub: relay failed: %r", error)
                # Terminate, not close: a polite close on a half-open
                # connection waits for an answer that never comes.
                self.drop_connection()
                retry = min(max(retry * 2, 0.05), 2.0)
                continue
            now = time.monotonic()
            self._adapt(stamped, now - last_round)
            last_round = now
            if settled:
                # Whoever numbered them (another process's relay may have),
                # nothing kicked before the round is left to wait for.
                self._pending -= covered
            elif stamped:
                self._pending = max(0, self._pending - stamped)
            waited = time.monotonic() - self._last_kick
            if self._pending > 0 and waited < self.give_up:
                # A kicked transaction has not committed yet: look again
                # soon; back off only once it has been open a while, so a
                # long transaction costs few queries.
                step = max(self.window, 0.0005)
                slow = not stamped and waited > 0.01
                retry = min(max(retry * 2, step), 0.02) if slow else step
            else:
                self._pending = 0
                retry = 0.0
                self._idle.set()

    def _adapt(self, stamped: int, elapsed: float) -> None:
        """Widen the window while rows arrive as a sustained stream (rows
        per second since the previous round, so the rule does not depend on
        the window it chose), narrow it when they do not."""
        if stamped >= self.busy_rate * elapsed and stamped > 1:
            self.current_window = min(self.current_window * 2, self.max_window)
        else:
            self.current_window = max(self.current_window / 2, self.window)
