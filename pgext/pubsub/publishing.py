"""The publishing statements: what ``Hub.publish`` sends, on which
connection, and how an ``along=`` statement joins it in one round trip."""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from pgext.guards import check_combined_write
from pgext.pubsub import envelope
from pgext.pubsub.channel import Channel
from pgext.pubsub.errors import InvalidChannel, SchemaMissing
from pgext.pubsub.outbox import INSERT_MANY_SQL, INSERT_SQL

NOTIFY_SQL = "SELECT pg_notify($1, $2)"
# Stores the body and notifies a reference to it in one round trip; the
# reference envelope is built by the server from bound values.
SPILL_SQL = """
WITH spilled AS (
    INSERT INTO pgext_spill (channel, payload) VALUES ($1, $2) RETURNING id
)
SELECT pg_notify($1, json_build_object('pgext', 1, 'ts', $3::float8,
                                       'spill', spilled.id)::text)
FROM spilled
"""
# One notification per array element, in array order (a function scan
# returns the elements in order and pg_notify runs once per row).
NOTIFY_MANY_SQL = "SELECT count(pg_notify($1, note)) FROM unnest($2::text[]) AS note"


def along(along: Any) -> tuple[str | None, Sequence[Any]]:
    """The ``along=`` statement's SQL (checked) and its arguments."""
    if along is None:
        return None, ()
    if isinstance(along, tuple) and len(along) == 2 and isinstance(along[0], str):
        args = along[1]
        if not isinstance(args, list | tuple):
            args = list(args)
        return _checked(along[0]), args
    querystrings = getattr(along, "querystrings", None)
    if not querystrings or len(querystrings) != 1:
        raise InvalidChannel(
            "along= takes one Piccolo insert/update/delete query or (sql, args)"
        )
    table = getattr(along, "table", None)
    if table is not None:
        check_combined_write(table, "publish(along=...)")
    sql, args = querystrings[0].compile_string(engine_type="postgres")
    return _checked(sql), args


@functools.lru_cache(maxsize=256)
def _checked(sql: str) -> str:
    # Cached: an application publishes along a handful of statement shapes,
    # and checking one costs more than the rest of a publish's Python.
    # (lru_cache keeps no exceptions: a refused statement is refused again.)
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if head not in ("INSERT", "UPDATE", "DELETE"):
        raise InvalidChannel(
            "along= must be an INSERT, UPDATE or DELETE statement, got "
            f"{head or 'nothing'!r}"
        )
    return sql


@functools.lru_cache(maxsize=256)
def compose(app: str | None, offset: int, sql: str) -> str:
    """pgext's statement ``sql``, after ``WITH pgext_app AS (<app>)`` when
    there is an ``along=`` statement with ``offset`` parameters.  Cached per
    (statement shape, pgext statement): composing it is string work that
    would otherwise run on every publish."""
    if app is None:
        return sql
    ours = PLACEHOLDER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
    if ours.lstrip().startswith("WITH"):
        # The spill statement has its own WITH: join the lists.
        return f"WITH pgext_app AS ({app}), " + ours.strip().removeprefix("WITH")
    return f"WITH pgext_app AS ({app}) " + ours


PLACEHOLDER = re.compile(r"\$(\d+)")


async def send(
    conn: Any,
    channel: Channel[Any],
    text: str,
    app: str | None = None,
    args: Sequence[Any] = (),
) -> None:
    """Run the publishing statement for ``text`` on ``conn``: an outbox
    INSERT (durable), a NOTIFY, or a spill row and a NOTIFY of its id (too
    big for NOTIFY); ``app``/``args`` put an ``along=`` statement first."""
    n = len(args)
    try:
        if channel.durable:
            await conn.execute(compose(app, n, INSERT_SQL), *args, channel.name, text)
            return
        note = envelope.wrap(text)
        if envelope.fits(note):
            sql = compose(app, n, NOTIFY_SQL)
            await conn.execute(sql, *args, channel.name, note)
        else:
            sql = compose(app, n, SPILL_SQL)
            await conn.execute(sql, *args, channel.name, text, time.time())
    except asyncpg.UndefinedTableError as error:
        _schema_missing(error)
        raise


async def send_many(conn: Any, channel: Channel[Any], texts: list[str]) -> None:
    """Publish ``texts`` on ``channel`` in one statement, in order: outbox
    rows (durable) or notifications; one transaction of single sends when
    a plain payload is too big for NOTIFY."""
    try:
        if channel.durable:
            await conn.execute(INSERT_MANY_SQL, channel.name, texts)
            return
        notes = envelopes(texts)
        if all(map(envelope.fits, notes)):
            await conn.execute(NOTIFY_MANY_SQL, channel.name, notes)
            return
    except asyncpg.UndefinedTableError as error:
        _schema_missing(error)
        raise
    async with conn.transaction():
        for text in texts:
            await send(conn, channel, text)


def envelopes(texts: list[str]) -> list[str]:
    """Envelopes for a batch, each with its own timestamp: PostgreSQL
    delivers identical notifications of one transaction only once, so two
    equal payloads must not produce equal envelopes.  (Consecutive floats:
    the batch is published at one instant, to the clock's resolution.)"""
    ts = time.time()
    notes = []
    for text in texts:
        notes.append(envelope.wrap(text, ts))
        ts = math.nextafter(ts, math.inf)
    return notes


def _schema_missing(error: asyncpg.UndefinedTableError) -> None:
    """Raise SchemaMissing if ``error`` is about pgext's own tables; return
    if it is about the application's (an along= statement)."""
    if "pgext_" in str(error):
        raise SchemaMissing(
            "pgext pub/sub tables are missing: run the pub/sub migration "
            "or pgext.pubsub.install_schema(engine)"
        ) from error
