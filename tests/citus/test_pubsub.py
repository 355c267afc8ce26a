"""Pub/sub against a Citus coordinator: durable messages published in
transactions that also write to a distributed table are all delivered (the
outbox stays local to the coordinator), rolled-back ones never; row-change
feeds on Citus tables are refused before any trigger is attempted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from pgext import citus as pgcitus
from pgext.citus import RefusedOnDistributed
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Feed, Hub, Message, install_schema
from tests.citus.models import CITUS_MODELS, CtCountry, CtSale, CtShop
from tests.helpers import recreate_tables

pytestmark = pytest.mark.citus

WRITERS = 4
PER_WRITER = 25


class Sold(BaseModel):
    writer: int
    seq: int


@pytest.fixture(scope="module")
async def pooled(citus_config: dict[str, Any]) -> AsyncIterator[PgextEngine]:
    engine = PgextEngine(config=citus_config)
    await engine.start_connection_pool(min_size=1, max_size=8)
    await install_schema(engine)
    await recreate_tables(engine, *CITUS_MODELS)
    await pgcitus.setup(*CITUS_MODELS, engine=engine)
    yield engine
    await engine.close_connection_pool()


async def test_outbox_stays_local(pooled: PgextEngine) -> None:
    assert not await pgcitus.is_citus_table("pgext_outbox", engine=pooled)
    assert await pgcitus.is_citus_table(CtSale)


async def test_durable_publish_with_distributed_writes_loses_nothing(
    pooled: PgextEngine,
) -> None:
    channel = Channel("citus_sold", Sold, durable=True)
    async with Hub(pooled, poll_interval=0.5) as hub, hub.subscribe(channel) as sub:

        async def writer(w: int) -> None:
            for seq in range(PER_WRITER):
                rollback = seq % 5 == 4
                try:
                    async with pooled.transaction():
                        # Two tenants: a write on two shards, then the publish.
                        await CtSale.insert(
                            CtSale(tenant=w, shop=seq, amount=1.0),
                            CtSale(tenant=w + 100, shop=seq, amount=2.0),
                        )
                        await hub.publish(channel, {"writer": w, "seq": seq})
                        if rollback:
                            raise RuntimeError("roll back")
                except RuntimeError:
                    pass

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        expected = {
            (w, s) for w in range(WRITERS) for s in range(PER_WRITER) if s % 5 != 4
        }
        got: set[tuple[int, int]] = set()

        async def drain() -> None:
            while got != expected:
                event = await sub.get()
                assert isinstance(event, Message), event
                got.add((event.data.writer, event.data.seq))

        await asyncio.wait_for(drain(), 30)
    assert got == expected  # 0 lost, none of the rolled-back ones
    assert await CtSale.count() == 2 * len(expected)


async def test_publish_along_a_distributed_insert_is_refused(
    pooled: PgextEngine,
) -> None:
    channel = Channel("citus_along", Sold, durable=True)
    async with Hub(pooled, poll_interval=0.5) as hub:
        with pytest.raises(RefusedOnDistributed, match="one transaction"):
            await hub.publish(
                channel,
                {"writer": 9, "seq": 1},
                along=CtSale.insert(CtSale(tenant=9, shop=1, amount=3.0)),
            )
    assert await CtSale.count().where(CtSale.tenant == 9) == 0


def test_row_change_feeds_are_refused_on_citus_tables() -> None:
    for table in (CtShop, CtCountry):
        with pytest.raises(RefusedOnDistributed, match="durable channel"):
            Feed(table)
