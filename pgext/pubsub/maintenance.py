"""Keeping the outbox in shape: pruning delivered messages by age, and
finding and numbering rows that no relay round numbered."""

from __future__ import annotations

import datetime
from typing import Any

from pgext.pubsub.outbox import (
    OLDEST_SQL,
    PRUNE_OUTBOX_SQL,
    PRUNE_SPILL_SQL,
    REPAIR_SQL,
    UNNUMBERED_SQL,
)
from pgext.pubsub.readpool import ReadPool


class OutboxMaintenance:
    """Mixed into :class:`~pgext.pubsub.hub.Hub`, which sets ``engine``,
    ``reads`` (its private read pool) and ``unnumbered_rows``."""

    engine: Any
    reads: ReadPool
    unnumbered_rows: int | None

    async def oldest_position(self) -> int | None:
        """The first position still in the outbox (None: nothing retained)."""
        oldest: int | None = await self.reads.fetch("fetchval", OLDEST_SQL)
        return oldest

    async def prune(self, older_than: datetime.timedelta) -> tuple[int, int]:
        """Delete delivered outbox rows and spilled payloads older than
        ``older_than``; returns (outbox rows, spill rows) deleted."""
        if older_than.total_seconds() < 0:
            raise ValueError("older_than must not be negative")
        async with self.engine.connection() as conn:
            outbox = await conn.execute(PRUNE_OUTBOX_SQL, older_than)
            spill = await conn.execute(PRUNE_SPILL_SQL, older_than)
        return int(outbox.split()[-1]), int(spill.split()[-1])

    async def check_outbox(self) -> int:
        """How many committed durable messages no relay round numbered (so
        no subscriber will ever get them): 0 on a healthy outbox.  pgext
        0.1.0's stamper could leave such rows (see :meth:`repair_outbox`).
        The count is also kept in ``stats()["unnumbered_rows"]``."""
        count: int = await self.reads.fetch("fetchval", UNNUMBERED_SQL)
        self.unnumbered_rows = count
        return count

    async def repair_outbox(self) -> int:
        """Number the rows :meth:`check_outbox` counts, after everything
        already numbered, and wake subscribers: they receive those messages
        late (at-least-once allows that) instead of never.  Returns how many
        rows were numbered.  Safe to run at any time, from any process."""
        async with self.engine.connection() as conn:
            repaired: int = await conn.fetchval(REPAIR_SQL)
        self.unnumbered_rows = 0
        return repaired
