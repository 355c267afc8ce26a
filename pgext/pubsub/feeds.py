"""Row-change feeds: insert/update/delete events of a Piccolo table.

A :class:`Feed` names a table and what to report; :meth:`Feed.create_sql`
gives the trigger DDL that migrations carry (see :func:`add_feed_steps`).
Every feed uses the one generic trigger function ``pgext_feed_notify()``
installed with the pub/sub schema; the feed's settings travel as trigger
arguments, so no per-feed function is generated and no value is ever
written into SQL text.  Events arrive on ``feed.channel`` as
:class:`RowChange` messages carrying the primary key, the changed column
names and, with ``include_row=True``, the whole row as JSON (such events can
be large; those over NOTIFY's limit are spilled and still delivered).

Writes to a table with a plain feed take NOTIFY's global commit lock; for
write-heavy tables use ``durable=True`` (the trigger writes to the outbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from piccolo.table import Table
from pydantic import BaseModel

from pgext import seam
from pgext.guards import check_row_triggers
from pgext.identifiers import quote_ident, quote_literal, quote_qualified
from pgext.pubsub.channel import Channel, validate_channel_name
from pgext.pubsub.errors import PubSubError
from pgext.pubsub.schema import _migration_engine

Operation = Literal["insert", "update", "delete"]
_ALL: tuple[Operation, ...] = ("insert", "update", "delete")


class RowChange(BaseModel):
    """One row-change event."""

    op: Operation
    schema_: str | None = None
    table: str
    pk: Any
    changed: list[str]
    row: dict[str, Any] | None = None

    model_config = {"populate_by_name": True}

    def __init__(self, **data: Any) -> None:
        if "schema" in data and "schema_" not in data:
            data["schema_"] = data.pop("schema")
        super().__init__(**data)


@dataclass(frozen=True, eq=False)
class Feed:
    """Declare a feed on ``table``.

    :param operations: which of insert / update / delete to report.
    :param columns: report updates only when one of these columns is SET
        (``UPDATE OF``); default: any column.  Updates that change nothing
        are never reported.
    :param include_row: put the whole row (``NEW``, or ``OLD`` for deletes)
        into the event.
    :param channel_name: channel name; default ``<table>_changes`` (the
        resulting :class:`Channel` is the ``channel`` attribute).
    :param durable: write events to the outbox (at-least-once, replayable,
        no NOTIFY in the writing transaction) instead of NOTIFYing.
    """

    table: type[Table]
    operations: Sequence[Operation] = _ALL
    columns: Sequence[str] = ()
    include_row: bool = False
    channel_name: str | None = None
    durable: bool = False
    channel: Channel[RowChange] = field(init=False)

    def __post_init__(self) -> None:
        ops = tuple(self.operations)
        if not ops or any(op not in _ALL for op in ops):
            raise PubSubError(f"operations must be a non-empty subset of {_ALL}")
        object.__setattr__(self, "operations", ops)
        check_row_triggers(self.table, "a row-change feed")
        known = {seam.column_name(c) for c in seam.table_columns(self.table)}
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            raise PubSubError(
                f"feed on {self.table.__name__}: unknown columns {unknown}"
            )
        if self.columns and "update" not in ops:
            raise PubSubError("columns= only applies to update events")
        name = self.channel_name or f"{seam.table_name(self.table)}_changes"
        validate_channel_name(name)
        object.__setattr__(
            self, "channel", Channel(name, RowChange, durable=self.durable)
        )

    @property
    def trigger_name(self) -> str:
        # Derived from the channel so two feeds on one table can coexist.
        name = f"pgext_feed_{self.channel.name}"
        return name[:63]

    def _events(self) -> str:
        parts = []
        for op in self.operations:
            if op == "update" and self.columns:
                cols = ", ".join(quote_ident(c) for c in self.columns)
                parts.append(f"UPDATE OF {cols}")
            else:
                parts.append(op.upper())
        return " OR ".join(parts)

    def create_sql(self) -> list[str]:
        """DDL creating (or replacing) the feed's trigger."""
        table = quote_qualified(
            seam.table_name(self.table), seam.table_schema(self.table)
        )
        pk = seam.column_name(seam.primary_key(self.table))
        args = ", ".join(
            quote_literal(a)
            for a in (
                self.channel.name,
                pk,
                "1" if self.include_row else "0",
                "1" if self.durable else "0",
            )
        )
        trigger = quote_ident(self.trigger_name)
        return [
            f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
            f"CREATE TRIGGER {trigger} AFTER {self._events()} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION pgext_feed_notify({args})",
        ]

    def drop_sql(self) -> list[str]:
        table = quote_qualified(
            seam.table_name(self.table), seam.table_schema(self.table)
        )
        return [f"DROP TRIGGER IF EXISTS {quote_ident(self.trigger_name)} ON {table}"]

    async def install(self, engine: Any) -> None:
        """Create the trigger now (tests, scripts); migrations use
        :func:`add_feed_steps`."""
        async with engine.connection() as conn:
            for statement in self.create_sql():
                await conn.execute(statement)

    async def uninstall(self, engine: Any) -> None:
        async with engine.connection() as conn:
            for statement in self.drop_sql():
                await conn.execute(statement)


def add_feed_steps(manager: Any, *feeds: Feed) -> None:
    """Add the feeds' triggers to a Piccolo ``MigrationManager`` (forwards
    creates, backwards drops).  Piccolo runs raw steps before it creates
    tables, so put this in a migration after the one creating the table,
    and after the pub/sub schema migration (:func:`add_schema_steps`)."""

    async def forwards() -> None:
        engine = _migration_engine()
        for feed in feeds:
            await feed.install(engine)

    async def backwards() -> None:
        engine = _migration_engine()
        for feed in feeds:
            await feed.uninstall(engine)

    manager.add_raw(forwards)
    manager.add_raw_backwards(backwards)
