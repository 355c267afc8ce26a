"""The tables and functions behind durable channels, spilled payloads and
row-change feeds, as DDL that migrations (or :func:`install_schema`) run.

``pgext_outbox``
    one row per durable message.  ``id`` is the insert order (a sequence:
    numbers are taken *before* commit, so a smaller id can become visible
    after a larger one).  ``pos`` is the delivery position, stamped after
    commit by ``pgext_outbox_stamp()`` under a lock on ``pgext_outbox_state``,
    so positions grow in commit order and a reader that has seen position
    ``p`` can never later find a new row below ``p``.
``pgext_spill``
    bodies of plain notifications too large for NOTIFY.

All statements are constant text: values never enter them.
"""

from __future__ import annotations

from typing import Any

from pgext.pubsub.errors import PubSubError

OUTBOX_TABLE = "pgext_outbox"
STATE_TABLE = "pgext_outbox_state"
SPILL_TABLE = "pgext_spill"
WAKE_CHANNEL = "pgext_outbox_wake"

CREATE_STATEMENTS: tuple[str, ...] = (
    # Kept lean because every durable message is written twice (insert,
    # then the stamp): no primary key, and each index covers only the rows
    # that need it.
    """CREATE TABLE IF NOT EXISTS pgext_outbox (
        id bigserial,
        pos bigint,
        channel text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        xid xid8 NOT NULL DEFAULT pg_current_xact_id()
    )""",
    # Readers follow positions.
    """CREATE INDEX IF NOT EXISTS pgext_outbox_pos
        ON pgext_outbox (pos) WHERE pos IS NOT NULL""",
    # The stamper looks only at unstamped rows of transactions at or after
    # its horizon, so the dead index entries that stamping leaves behind
    # (until vacuum) are never rescanned.
    """CREATE INDEX IF NOT EXISTS pgext_outbox_unstamped_xid
        ON pgext_outbox (xid) WHERE pos IS NULL""",
    """CREATE TABLE IF NOT EXISTS pgext_outbox_state (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_pos bigint NOT NULL DEFAULT 0,
        horizon xid8 NOT NULL DEFAULT '0'
    )""",
    "INSERT INTO pgext_outbox_state (singleton) VALUES (true) ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS pgext_spill (
        id bigserial PRIMARY KEY,
        channel text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    # Stamps committed, unstamped rows with the next positions and sends ONE
    # wake-up for the whole batch.  The row lock on pgext_outbox_state
    # serialises stampers (of every process); each statement of a VOLATILE
    # plpgsql function takes a fresh snapshot, so after waiting for the lock
    # the UPDATE sees everything the previous stamper committed.  The NOTIFY
    # (and its global commit lock) happens here, off the writers' path.
    """CREATE OR REPLACE FUNCTION pgext_outbox_stamp(batch integer)
    RETURNS bigint LANGUAGE plpgsql AS $fn$
    DECLARE
        base bigint;
        h xid8;
        next_h xid8;
        stamped bigint;
    BEGIN
        SELECT last_pos, horizon INTO base, h FROM pgext_outbox_state
            WHERE singleton FOR UPDATE;
        -- Every transaction older than next_h has ended, so the UPDATE
        -- below (a later snapshot) sees all of their rows; rows written
        -- from now on get an xid >= next_h.
        next_h := pg_snapshot_xmin(pg_current_snapshot());
        -- No row locks needed: only the holder of the state row stamps.
        WITH numbered AS (
            SELECT id, row_number() OVER (ORDER BY id) AS rn
            FROM (SELECT id FROM pgext_outbox
                  WHERE pos IS NULL AND xid >= h
                  ORDER BY id LIMIT batch) AS todo
        )
        UPDATE pgext_outbox o SET pos = base + numbered.rn
            FROM numbered
            WHERE o.id = numbered.id AND o.pos IS NULL AND o.xid >= h;
        GET DIAGNOSTICS stamped = ROW_COUNT;
        -- A full batch may have left rows behind: keep the old horizon.
        UPDATE pgext_outbox_state
            SET last_pos = base + stamped,
                horizon = CASE WHEN stamped < batch THEN next_h ELSE h END
            WHERE singleton;
        IF stamped > 0 THEN
            PERFORM pg_notify('pgext_outbox_wake', (base + stamped)::text);
        END IF;
        RETURN stamped;
    END
    $fn$""",
    # One trigger function serves every row-change feed; the feed's settings
    # arrive as trigger arguments: channel, primary key column, include the
    # row ('1'/'0'), durable ('1'/'0').
    """CREATE OR REPLACE FUNCTION pgext_feed_notify()
    RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        new_row jsonb;
        old_row jsonb;
        cur jsonb;
        changed text[];
        body jsonb;
        note text;
        spill_id bigint;
        ts double precision := extract(epoch FROM clock_timestamp());
    BEGIN
        IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
        IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
        cur := coalesce(new_row, old_row);
        IF TG_OP = 'UPDATE' THEN
            SELECT coalesce(array_agg(n.key ORDER BY n.key), '{}') INTO changed
                FROM jsonb_each(new_row) n
                WHERE old_row -> n.key IS DISTINCT FROM n.value;
            IF cardinality(changed) = 0 THEN
                RETURN NULL;
            END IF;
        ELSIF TG_OP = 'INSERT' THEN
            SELECT coalesce(array_agg(k ORDER BY k), '{}') INTO changed
                FROM jsonb_object_keys(new_row) k;
        ELSE
            changed := '{}';
        END IF;
        body := jsonb_build_object(
            'op', lower(TG_OP),
            'schema', TG_TABLE_SCHEMA,
            'table', TG_TABLE_NAME,
            'pk', cur -> TG_ARGV[1],
            'changed', to_jsonb(changed),
            'row', CASE WHEN TG_ARGV[2] = '1' THEN cur END
        );
        IF TG_ARGV[3] = '1' THEN
            INSERT INTO pgext_outbox (channel, payload)
                VALUES (TG_ARGV[0], body::text);
        ELSE
            note := jsonb_build_object('pgext', 1, 'ts', ts, 'd', body)::text;
            IF octet_length(note) >= 8000 THEN
                INSERT INTO pgext_spill (channel, payload)
                    VALUES (TG_ARGV[0], body::text) RETURNING id INTO spill_id;
                note := jsonb_build_object('pgext', 1, 'ts', ts,
                                           'spill', spill_id)::text;
            END IF;
            PERFORM pg_notify(TG_ARGV[0], note);
        END IF;
        RETURN NULL;
    END
    $fn$""",
)

DROP_STATEMENTS: tuple[str, ...] = (
    "DROP FUNCTION IF EXISTS pgext_feed_notify() CASCADE",
    "DROP FUNCTION IF EXISTS pgext_outbox_stamp(integer)",
    "DROP TABLE IF EXISTS pgext_spill",
    "DROP TABLE IF EXISTS pgext_outbox_state",
    "DROP TABLE IF EXISTS pgext_outbox",
)

# Serialises concurrent installs (CREATE ... IF NOT EXISTS is not race-free).
_INSTALL_LOCK_KEY = 0x70676578_7073  # "pgex" "ps"


async def _run(connection: Any, statements: tuple[str, ...]) -> None:
    for statement in statements:
        await connection.execute(statement)


async def install_schema(engine: Any) -> None:
    """Create the pub/sub tables and functions (idempotent), in the current
    transaction if there is one.  ``engine`` is a :class:`PgextEngine`."""
    async with engine.connection() as connection:
        if connection.is_in_transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1)", _INSTALL_LOCK_KEY
            )
            await _run(connection, CREATE_STATEMENTS)
        else:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock($1)", _INSTALL_LOCK_KEY
                )
                await _run(connection, CREATE_STATEMENTS)


async def uninstall_schema(engine: Any) -> None:
    """Drop everything :func:`install_schema` created (and every feed
    trigger, through the CASCADE on the trigger function)."""
    async with engine.connection() as connection:
        await _run(connection, DROP_STATEMENTS)


def add_schema_steps(manager: Any) -> None:
    """Add the schema to a Piccolo ``MigrationManager`` as raw forward and
    backward steps.  They run on the engine ``piccolo_conf`` names, inside
    the migration's transaction; it must be a :class:`PgextEngine`::

        async def forwards():
            manager = MigrationManager(migration_id=ID, app_name="shop")
            add_schema_steps(manager)
            return manager
    """

    async def forwards() -> None:
        await install_schema(_migration_engine())

    async def backwards() -> None:
        await uninstall_schema(_migration_engine())

    manager.add_raw(forwards)
    manager.add_raw_backwards(backwards)


def _migration_engine() -> Any:
    from piccolo.engine.finder import engine_finder

    from pgext.engine import PgextEngine

    engine = engine_finder()
    if not isinstance(engine, PgextEngine):
        raise PubSubError(
            "pgext pub/sub migrations need piccolo_conf's DB to be a PgextEngine"
        )
    return engine
