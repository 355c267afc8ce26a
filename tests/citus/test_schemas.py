"""Schema-based sharding: the same Piccolo models, unchanged, in two tenant
schemas that Citus distributed (serial keys, UNIQUE, ForeignKey, joins,
save)."""

from __future__ import annotations

import pytest
from piccolo.columns import ForeignKey, Integer, Varchar
from piccolo.table import Table

from pgext import citus as pgcitus
from pgext.engine import PgextEngine
from tests.helpers import recreate_tables

pytestmark = pytest.mark.citus


class AcmeCustomer(Table, schema="tenant_acme", tablename="customer"):
    email = Varchar(unique=True)


class AcmeOrder(Table, schema="tenant_acme", tablename="purchase"):
    customer = ForeignKey(AcmeCustomer)
    total = Integer()


class BetaCustomer(Table, schema="tenant_beta", tablename="customer"):
    email = Varchar(unique=True)


async def test_models_run_unchanged_in_tenant_schemas(citus: PgextEngine) -> None:
    for schema in ("tenant_acme", "tenant_beta"):
        await pgcitus.undistribute_schema(schema, engine=citus)
        async with citus.connection() as connection:
            await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        assert await pgcitus.distribute_schema(schema, engine=citus)
        assert not await pgcitus.distribute_schema(schema, engine=citus)
    # Tables created in a distributed schema become its shards.
    await recreate_tables(citus, AcmeCustomer, AcmeOrder, BetaCustomer)
    assert {"tenant_acme", "tenant_beta"} <= set(
        await pgcitus.tenant_schemas(engine=citus)
    )
    assert await pgcitus.is_citus_table("tenant_acme.purchase", engine=citus)

    ann, bob = AcmeCustomer(email="ann@acme"), AcmeCustomer(email="bob@acme")
    await AcmeCustomer.insert(ann, bob)
    await AcmeOrder.insert(
        AcmeOrder(customer=ann.id, total=5), AcmeOrder(customer=bob.id, total=7)
    )
    rows = await AcmeOrder.select(AcmeOrder.customer.email, AcmeOrder.total).order_by(
        AcmeOrder.total
    )
    assert rows == [
        {"customer.email": "ann@acme", "total": 5},
        {"customer.email": "bob@acme", "total": 7},
    ]
    ann.email = "ann@acme.example"
    await ann.save()
    assert await AcmeCustomer.exists().where(AcmeCustomer.email == "ann@acme.example")
    # The same address in another tenant's schema is fine; twice in one is not.
    await BetaCustomer(email="bob@acme").save()
    with pytest.raises(Exception, match="customer_email_key"):
        await AcmeCustomer(email="bob@acme").save()

    assert await pgcitus.undistribute_schema("tenant_beta", engine=citus)
    assert not await pgcitus.is_citus_table("tenant_beta.customer", engine=citus)
    assert await BetaCustomer.count() == 1
