"""ORM round trips on a real single-node Citus cluster (32 shards)."""

from __future__ import annotations

import asyncpg
import pytest
from shapely import Point

from pgext import citus as pgcitus
from pgext.citus import RefusedOnDistributed
from pgext.engine import PgextEngine
from tests.citus.models import CITUS_MODELS, CtCountry, CtSale, CtShop
from tests.helpers import recreate_tables

pytestmark = pytest.mark.citus


@pytest.fixture
async def shops(citus: PgextEngine) -> PgextEngine:
    await recreate_tables(citus, *CITUS_MODELS)
    await pgcitus.setup(*CITUS_MODELS, engine=citus)
    return citus


async def test_capabilities_and_distribution(shops: PgextEngine) -> None:
    caps = await shops.capabilities(refresh=True)
    assert caps.citus is not None and caps.citus >= (13,)
    assert caps.postgis is not None
    assert "citus 13" in caps.describe()
    rows = await shops.execute_in_new_connection(
        "SELECT logicalrelid::text AS t, partmethod::text AS partmethod, colocationid "
        "FROM pg_dist_partition ORDER BY 1"
    )
    found = {r["t"]: (r["partmethod"], r["colocationid"]) for r in rows}
    assert found["ct_country"][0] == "n"  # reference
    assert found["ct_shop"][0] == "h" and found["ct_sale"][0] == "h"
    assert found["ct_shop"][1] == found["ct_sale"][1]  # co-located
    assert await pgcitus.is_citus_table(CtShop)
    # What the server says each table is distributed by (a reference table,
    # a local one and a missing one are not hash-distributed).
    assert await pgcitus.distribution_column_on_server(CtShop) == "tenant"
    assert await pgcitus.distribution_column_on_server(CtSale) == "tenant"
    assert await pgcitus.distribution_column_on_server(CtCountry) is None
    for name in ("pg_catalog.pg_class", "no_such_table"):
        assert await pgcitus.distribution_column_on_server(name, shops) is None
    keys = await shops.execute_in_new_connection(
        "SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
        "WHERE conrelid = 'ct_shop'::regclass AND contype = 'p'"
    )
    assert keys[0]["d"] == "PRIMARY KEY (tenant, id)"


async def test_multi_row_insert_gives_each_object_its_own_id(
    shops: PgextEngine,
) -> None:
    country = CtCountry(code="NL", name="Netherlands")
    await country.save()
    objects = [
        CtShop(
            tenant=tenant % 13,
            name=f"shop {tenant}",
            location=Point(tenant, tenant),
            country=country.id,
        )
        for tenant in range(60)
    ]
    await CtShop.insert(*objects)
    stored = {r["id"]: r["name"] for r in await CtShop.select(CtShop.id, CtShop.name)}
    assert len(stored) == 60
    for obj in objects:
        assert stored[obj.id] == obj.name
    # Without pgext's reordering the ids came back grouped by shard: the
    # raw RETURNING order differs from the insert order here.
    raw = await shops.execute_in_new_connection(
        "INSERT INTO ct_sale (tenant, shop, amount) SELECT g % 13, g, g "
        "FROM generate_series(1, 60) g RETURNING shop"
    )
    assert [r["shop"] for r in raw] != list(range(1, 61))


async def test_save_updates_without_touching_the_distribution_column(
    shops: PgextEngine,
) -> None:
    a, b = CtShop(tenant=1, name="a"), CtShop(tenant=2, name="b")
    await CtShop.insert(a, b)
    a.name = "renamed"
    await a.save()
    rows = await CtShop.select(CtShop.name).order_by(CtShop.id)
    assert [r["name"] for r in rows] == ["renamed", "b"]
    with pytest.raises(RefusedOnDistributed, match="delete the row"):
        await a.save(columns=[CtShop.tenant])
    await a.save(columns=["name"])


async def test_constraint_errors_name_the_users_constraint(
    shops: PgextEngine,
) -> None:
    shop = CtShop(tenant=3, name="x")
    await shop.save()
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        await CtShop.insert(CtShop(id=shop.id, tenant=3, name="again"))
    assert caught.value.constraint_name == "ct_shop_pkey"
    assert caught.value.table_name == "ct_shop"
    assert "ct_shop_pkey" in str(caught.value)
    assert "_10" not in str(caught.value)
    # What Citus itself says (no translation on this path): the shard's name.
    with pytest.raises(asyncpg.UniqueViolationError) as raw:
        await shops.execute_in_new_connection(
            "INSERT INTO ct_shop (id, tenant, name) VALUES ($1, 3, 'x')", shop.id
        )
    assert raw.value.constraint_name != "ct_shop_pkey"
    assert raw.value.constraint_name.startswith("ct_shop_pkey_")


async def test_foreign_key_to_a_reference_table(shops: PgextEngine) -> None:
    country = CtCountry(code="BE", name="Belgium")
    await country.save()
    shop = CtShop(tenant=4, name="x", country=country.id)
    await shop.save()
    rows = await CtShop.select(CtShop.name, CtShop.country.name).where(
        CtShop.tenant == 4
    )
    assert rows == [{"name": "x", "country.name": "Belgium"}]
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await CtShop.insert(CtShop(tenant=4, name="y", country=999999))


async def test_objects_with_their_own_ids_keep_them(shops: PgextEngine) -> None:
    objects = [
        CtShop(tenant=t, name=f"n{t}")
        if t % 3
        else CtShop(id=5000 + t, tenant=t, name=f"n{t}")
        for t in range(30)
    ]
    await CtShop.insert(*objects)
    stored = {r["id"]: r["name"] for r in await CtShop.select(CtShop.id, CtShop.name)}
    assert len(stored) == 30
    assert all(stored[o.id] == o.name for o in objects)
    assert objects[3].id == 5003
