"""What only shows across nodes: a coordinator and two workers, all on this
machine.  Shards on both workers; ids after multi-row inserts, KNN and
dwithin against a single-node table; durable pub/sub with transactions that
commit on both workers (two-phase commit)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel
from shapely import Point

from pgext import citus as pgcitus
from pgext.engine import PgextEngine
from pgext.pubsub import Channel, Hub, Message, install_schema
from tests.citus.models import CITUS_MODELS, CtSale, CtShop, PlainCountry, PlainShop
from tests.helpers import recreate_tables

pytestmark = [pytest.mark.citus, pytest.mark.postgres]

HERE = Point(5.5, 52.0)


class Paid(BaseModel):
    n: int


@pytest.fixture(scope="module")
async def cluster(
    citus3_config: dict[str, Any], pg_engine: PgextEngine
) -> AsyncIterator[PgextEngine]:
    engine = PgextEngine(config=citus3_config)
    await engine.start_connection_pool(min_size=1, max_size=6)
    await install_schema(engine)
    await recreate_tables(engine, *CITUS_MODELS)
    await pgcitus.setup(*CITUS_MODELS, engine=engine)
    await recreate_tables(pg_engine, PlainCountry, PlainShop)
    rng = random.Random(3)
    rows = [
        {
            "tenant": i % 16,
            "name": f"s{i:04d}",
            "location": Point(rng.uniform(3.0, 8.0), rng.uniform(50.0, 54.0)),
        }
        for i in range(800)
    ]
    # Multi-row inserts through the ORM on both sides; ids come from each
    # side's own sequence, so rows are compared by name.
    await CtShop.insert(*[CtShop(**row) for row in rows])
    await PlainShop.insert(*[PlainShop(**row) for row in rows])
    yield engine
    await engine.close_connection_pool()
    await recreate_tables(pg_engine, PlainCountry, PlainShop)


async def test_shards_live_on_both_workers(cluster: PgextEngine) -> None:
    rows = await cluster.execute_in_new_connection(
        "SELECT count(DISTINCT p.groupid) AS nodes FROM pg_dist_placement p "
        "JOIN pg_dist_shard s USING (shardid) "
        "WHERE s.logicalrelid = 'ct_shop'::regclass"
    )
    assert rows[0]["nodes"] == 2


async def test_multi_row_insert_ids_across_nodes(cluster: PgextEngine) -> None:
    objects = [CtShop(tenant=t, name=f"x{t}") for t in range(40)]
    await CtShop.insert(*objects)
    stored = {r["id"]: r["name"] for r in await CtShop.select(CtShop.id, CtShop.name)}
    assert all(stored[o.id] == o.name for o in objects)


async def test_knn_and_dwithin_match_one_node(cluster: PgextEngine) -> None:
    for tenant in (None, 5):
        results = []
        for shop in (CtShop, PlainShop):
            knn = shop.select(shop.name).order_by(shop.location.knn(HERE)).limit(12)
            near = shop.select(shop.name).where(shop.location.dwithin(HERE, 50_000))
            if tenant is not None:
                knn = knn.where(shop.tenant == tenant)
                near = near.where(shop.tenant == tenant)
            results.append(
                (
                    [r["name"] for r in await knn],
                    sorted(r["name"] for r in await near),
                )
            )
        assert results[0] == results[1]
        assert results[1][0] and results[1][1]


async def test_durable_publish_with_two_phase_commits(cluster: PgextEngine) -> None:
    channel = Channel("citus3_paid", Paid, durable=True)
    async with Hub(cluster, poll_interval=0.5) as hub, hub.subscribe(channel) as sub:
        for n in range(20):
            async with cluster.transaction():
                # Tenants 0..15 hash to shards on both workers.
                await CtSale.insert(
                    *[CtSale(tenant=t, shop=n, amount=1.0) for t in range(16)]
                )
                await hub.publish(channel, {"n": n})
        got: set[int] = set()

        async def drain() -> None:
            while len(got) < 20:
                event = await sub.get()
                assert isinstance(event, Message)
                got.add(event.data.n)

        await asyncio.wait_for(drain(), 30)
    assert got == set(range(20))


async def test_plain_notify_with_a_multi_node_transaction(
    cluster: PgextEngine,
) -> None:
    """A NOTIFY runs on the coordinator, whose own transaction is not
    prepared (only the workers' are): plain channels work too."""
    channel = Channel("citus3_plain", Paid)
    async with Hub(cluster) as hub, hub.subscribe(channel) as sub:
        async with cluster.transaction():
            await CtSale.insert(
                *[CtSale(tenant=t, shop=-1, amount=1.0) for t in range(16)]
            )
            await hub.publish(channel, {"n": 1})
        event = await asyncio.wait_for(sub.get(), 10)
        assert isinstance(event, Message) and event.data.n == 1
    assert await CtSale.count().where(CtSale.shop == -1) == 16
