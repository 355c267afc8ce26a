"""The tables and functions behind durable channels, spilled payloads and
row-change feeds, as DDL that migrations (or :func:`install_schema`) run.

``pgext_outbox``
    one row per durable message, written by the publisher's transaction:
    ``id`` (from a sequence), channel and payload, nothing else, so that
    publishing costs the writer one narrow insert.  Ids are taken *before*
    commit, so a smaller id can become visible after a larger one.
``pgext_outbox_batch``
    the delivery order.  Each round of ``pgext_outbox_stamp()`` appends one
    row listing the ids that became visible since the last round; their
    positions are ``first_pos``, ``first_pos + 1``, ... in list order.
    Rounds are serialised by a row lock on ``pgext_outbox_state``, so
    positions grow in commit order and a reader that has seen position ``p``
    can never later find a new message below ``p``.
``pgext_spill``
    bodies of plain notifications too large for NOTIFY.

All statements are constant text: values never enter them.
"""

from __future__ import annotations

from typing import Any

from pgext.pubsub.errors import PubSubError

OUTBOX_TABLE = "pgext_outbox"
BATCH_TABLE = "pgext_outbox_batch"
STATE_TABLE = "pgext_outbox_state"
SPILL_TABLE = "pgext_spill"
WAKE_CHANNEL = "pgext_outbox_wake"

CREATE_STATEMENTS: tuple[str, ...] = (
    # CACHE 1: the stamper reads the sequence's last value as "every id up
    # to here has been handed out"; per-session caches would break that.
    "CREATE SEQUENCE IF NOT EXISTS pgext_outbox_id_seq CACHE 1",
    # The last id any writer has drawn, read under the sequence's buffer
    # lock.  NOT `SELECT last_value FROM pgext_outbox_id_seq`: a scan reads
    # the tuple without that lock, and nextval writes its pre-logged value
    # (up to 32 ahead, every 32 calls and after each checkpoint) into the
    # tuple before it writes the real one back, so a plain read can return
    # ids nobody has drawn yet.  A stamper that took those for handed out
    # would record them as gaps bounded by its own xid and drop them while
    # their (younger) writers were still to come: 30-32 messages lost.
    # (The parameter lets a test race this very read on a sequence of its
    # own; the default is bound to the outbox's sequence when created.)
    """CREATE OR REPLACE FUNCTION pgext_outbox_drawn(
        seq regclass DEFAULT 'pgext_outbox_id_seq')
    RETURNS bigint LANGUAGE sql VOLATILE AS $fn$
        SELECT coalesce(pg_sequence_last_value(seq), 0)
    $fn$""",
    # The CASE makes the writer take its transaction id BEFORE its outbox
    # id, so any id the stamper has seen handed out belongs to a transaction
    # below the xmax of the stamper's next snapshot: that is what lets it
    # tell "not committed yet" from "never will be" (see the stamp below).
    """CREATE OR REPLACE FUNCTION pgext_outbox_next_id()
    RETURNS bigint LANGUAGE sql VOLATILE AS $fn$
        SELECT CASE WHEN pg_current_xact_id() IS NOT NULL
                    THEN nextval('pgext_outbox_id_seq') END
    $fn$""",
    """CREATE TABLE IF NOT EXISTS pgext_outbox (
        id bigint PRIMARY KEY DEFAULT pgext_outbox_next_id(),
        channel text NOT NULL,
        payload text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS pgext_outbox_batch (
        first_pos bigint PRIMARY KEY,
        last_pos bigint NOT NULL,
        ids bigint[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    """CREATE INDEX IF NOT EXISTS pgext_outbox_batch_last
        ON pgext_outbox_batch (last_pos)""",
    # seen: every id up to here has been looked at; gaps: ids at or below
    # seen that were not visible yet, each with the snapshot xmax past which
    # its writer's transaction must have ended (gap_until).
    """CREATE TABLE IF NOT EXISTS pgext_outbox_state (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        last_pos bigint NOT NULL DEFAULT 0,
        seen bigint NOT NULL DEFAULT 0,
        gaps bigint[] NOT NULL DEFAULT '{}',
        gap_until xid8[] NOT NULL DEFAULT '{}'
    )""",
    "INSERT INTO pgext_outbox_state (singleton) VALUES (true) ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS pgext_spill (
        id bigserial PRIMARY KEY,
        channel text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    # Numbers the outbox rows that became visible since the last round (one
    # batch row, no per-message write) and sends ONE wake-up for them.  The
    # row lock on pgext_outbox_state serialises stampers of every process;
    # each statement of a VOLATILE plpgsql function takes a fresh snapshot,
    # so after waiting for the lock it sees what the previous one committed.
    #
    # Why nothing is lost.  The invariant: every id <= `top` was drawn by a
    # transaction whose xid is below `bound`.  It rests on four facts:
    #  1. `top` never runs ahead of the ids drawn: pgext_outbox_drawn()
    #     reads the sequence under its buffer lock (see above), and with
    #     CACHE 1 every id up to the last drawn one has been handed out;
    #  2. a writer takes its xid before its id (pgext_outbox_next_id);
    #  3. `top` is read before this round takes its own xid (`bound`), and
    #     xids are handed out in time order;
    #  4. stampers are serialised by the row lock, and each statement after
    #     it takes a fresh snapshot (READ COMMITTED), so rounds never overlap
    #     and a later round sees what an earlier one wrote.
    # An id that is not visible is kept as a gap until the snapshot xmin
    # (taken BEFORE the look-up) passes its round's `bound`: then its writer
    # has ended before the look-up, so a row still not visible never will
    # be (rolled back, or the id was never used).  xmin counts top-level
    # xids, so writers in subtransactions and prepared transactions hold it
    # back too.  A long transaction elsewhere only keeps a few gaps alive;
    # it never holds up later messages.
    # Dropped first: CREATE OR REPLACE cannot add an OUT parameter (settled
    # was added after the first release).  Installs run in one transaction,
    # so no relay ever finds the function missing.
    "DROP FUNCTION IF EXISTS pgext_outbox_stamp(integer)",
    """CREATE OR REPLACE FUNCTION pgext_outbox_stamp(
        batch integer, OUT stamped bigint, OUT more boolean,
        OUT settled boolean)
    -- Pinned search path: the names below always mean the tables and
    -- sequence installed beside this function, whatever the caller's path.
    LANGUAGE plpgsql SET search_path FROM CURRENT
    -- The function's plans are cached per session, and a generic plan made
    -- while the outbox was small scans it whole; a relay's session outlives
    -- that, and each round would then read every row ever retained.  Only
    -- index look-ups make sense here, whatever the statistics say.
    SET enable_seqscan = off AS $fn$
    DECLARE
        st pgext_outbox_state%ROWTYPE;
        top bigint;
        bound xid8;
        upto bigint;
        found bigint[];
        new_gaps bigint[];
        new_until xid8[];
        kept bigint[];
        kept_until xid8[];
        xmin xid8;
        channels text[];
        payloads text[];
        widest integer;
        one boolean;
        per integer;
        a integer;
        b integer;
        made timestamptz;
        note text;
        part integer;
    BEGIN
        IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
            RAISE EXCEPTION 'pgext_outbox_stamp() must run in a transaction '
                'of its own';
        END IF;
        top := pgext_outbox_drawn();
        bound := pg_current_xact_id();
        SELECT * INTO st FROM pgext_outbox_state WHERE singleton FOR UPDATE;
        -- Only a stamper of pgext 0.1.0 (or a setval by hand) leaves `seen`
        -- above the ids drawn: draw past it, so no writer gets an id that
        -- was already looked at and given up.  (`top` may merely be stale
        -- after the lock wait, so look again.  Never setval: writers may
        -- have drawn further meanwhile, and it would hand out ids twice.)
        IF st.seen > top THEN
            WHILE pgext_outbox_drawn() < st.seen LOOP
                PERFORM nextval('pgext_outbox_id_seq');
            END LOOP;
        END IF;
        upto := greatest(st.seen, least(top, st.seen + batch));
        -- xmin BEFORE the look-ups: a writer older than it had ended before
        -- they ran, so an id of such a writer that they do not see was
        -- rolled back.
        xmin := pg_snapshot_xmin(pg_current_snapshot());
        -- Still-missing gaps and the new range in one look-up, in id order,
        -- which the aggregates keep.  Payloads are collected only when small
        -- (a large one is not even detoasted): the wake-up carries them when
        -- they all fit.
        SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(channel), '{}'),
               coalesce(array_agg(small), '{}'),
               coalesce(max(bytes) FILTER (WHERE small IS NOT NULL), 0),
               coalesce(min(channel) = max(channel), true)
            INTO found, channels, payloads, widest, one
            FROM (SELECT id, channel,
                         CASE WHEN octet_length(payload) < 8000
                              THEN payload END AS small,
                         octet_length(payload) AS bytes
                  FROM pgext_outbox
                  WHERE id = ANY(st.gaps) OR (id > st.seen AND id <= upto)
                  ORDER BY id) AS v;
        -- Found gaps also count in `found`, so only without gaps does a full
        -- count prove the new range complete.
        IF cardinality(st.gaps) > 0 OR cardinality(found) < upto - st.seen THEN
            new_gaps := ARRAY(SELECT g FROM generate_series(st.seen + 1, upto) AS g
                              EXCEPT ALL SELECT unnest(found) ORDER BY 1);
        ELSE
            new_gaps := '{}';
        END IF;
        -- Old gaps still missing whose writer may still commit, then the
        -- new ones (their writers are older than this round's xid).
        SELECT coalesce(array_agg(x.g ORDER BY x.g), '{}'),
               coalesce(array_agg(x.u ORDER BY x.g), '{}')
            INTO kept, kept_until
            FROM unnest(st.gaps, st.gap_until) AS x(g, u)
            WHERE x.u > xmin AND NOT x.g = ANY(found);
        IF bound > xmin THEN
            new_until := kept_until || array_fill(bound, ARRAY[cardinality(new_gaps)]);
            new_gaps := kept || new_gaps;
        ELSE
            new_until := kept_until;
            new_gaps := kept;
        END IF;
        stamped := cardinality(found);
        more := top > upto;
        IF stamped > 0 THEN
            INSERT INTO pgext_outbox_batch (first_pos, last_pos, ids)
                VALUES (st.last_pos + 1, st.last_pos + stamped, found)
                RETURNING created_at INTO made;
            -- The wake-ups carry the round's messages, cut into parts of
            -- `per` messages that fit in a notification (about 5 kB of
            -- payload each; JSON escaping may add to that), so subscribers
            -- that are up to date need not read them back.  A part with a
            -- message too big to carry, or that comes out too big anyway,
            -- only says which positions are new.  Array slices, not a
            -- grouping query: this runs every round, under load.
            per := greatest(1, 5000 / (widest + 8));
            FOR part IN 0 .. (stamped - 1) / per LOOP
                a := part * per + 1;
                b := least(stamped, a + per - 1);
                note := NULL;
                IF array_position(payloads[a:b], NULL) IS NULL THEN
                    note := json_build_object(
                        'f', st.last_pos + a, 'l', st.last_pos + b,
                        't', extract(epoch FROM made),
                        -- Named once when the round has only one channel.
                        'c', CASE WHEN one THEN to_json(channels[1])
                                  ELSE to_json(channels[a:b]) END,
                        'p', payloads[a:b])::text;
                END IF;
                IF note IS NULL OR octet_length(note) >= 8000 THEN
                    note := json_build_object(
                        'f', st.last_pos + a, 'l', st.last_pos + b)::text;
                END IF;
                PERFORM pg_notify('pgext_outbox_wake', note);
            END LOOP;
        END IF;
        -- Everything drawn before this round began is numbered or given
        -- up: a relay waiting for rows it was told of can stop looking,
        -- whoever numbered them.
        settled := NOT more AND cardinality(new_gaps) = 0;
        IF stamped > 0 OR upto <> st.seen OR new_gaps <> st.gaps THEN
            UPDATE pgext_outbox_state
                SET last_pos = st.last_pos + stamped, seen = upto,
                    gaps = new_gaps, gap_until = new_until
                WHERE singleton;
        END IF;
    END
    $fn$""",
    # Committed outbox rows that no round numbered although the stamper has
    # looked past them: what the sequence-read defect of pgext <= 0.1.0 left
    # behind.  Empty on a healthy outbox.
    """CREATE OR REPLACE VIEW pgext_outbox_unnumbered AS
        SELECT o.id FROM pgext_outbox o, pgext_outbox_state s
        WHERE o.id <= s.seen AND o.id <> ALL (s.gaps)
        EXCEPT
        SELECT unnest(ids) FROM pgext_outbox_batch""",
    # Numbers those rows now, after everything already numbered, in one
    # round with a wake-up: subscribers get them late (at-least-once allows
    # that) instead of never.  Serialised with the stampers by the same lock.
    """CREATE OR REPLACE FUNCTION pgext_outbox_repair(OUT repaired bigint)
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
    DECLARE
        st pgext_outbox_state%ROWTYPE;
        lost bigint[];
    BEGIN
        SELECT * INTO st FROM pgext_outbox_state WHERE singleton FOR UPDATE;
        SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO lost
            FROM pgext_outbox_unnumbered;
        repaired := cardinality(lost);
        IF repaired > 0 THEN
            INSERT INTO pgext_outbox_batch (first_pos, last_pos, ids)
                VALUES (st.last_pos + 1, st.last_pos + repaired, lost);
            UPDATE pgext_outbox_state SET last_pos = st.last_pos + repaired
                WHERE singleton;
            PERFORM pg_notify('pgext_outbox_wake', json_build_object(
                'f', st.last_pos + 1, 'l', st.last_pos + repaired)::text);
        END IF;
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
    "DROP FUNCTION IF EXISTS pgext_outbox_repair()",
    "DROP VIEW IF EXISTS pgext_outbox_unnumbered",
    "DROP TABLE IF EXISTS pgext_spill",
    "DROP TABLE IF EXISTS pgext_outbox_state",
    "DROP TABLE IF EXISTS pgext_outbox_batch",
    "DROP TABLE IF EXISTS pgext_outbox",
    "DROP FUNCTION IF EXISTS pgext_outbox_next_id()",
    "DROP FUNCTION IF EXISTS pgext_outbox_drawn(regclass)",
    "DROP SEQUENCE IF EXISTS pgext_outbox_id_seq",
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
