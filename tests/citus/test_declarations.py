"""The model rules, checked when a table is declared (no server needed)."""

from __future__ import annotations

import pytest
from piccolo.columns import ForeignKey, Integer, Timestamptz, Varchar
from piccolo.table import Table

from pgext.citus import (
    DistributionDeclarationError,
    distributed,
    reference,
    tenant_schema,
)
from pgext.citus.plan import collect_state, empty_state, plan
from pgext.timescale import hypertable
from tests.citus.models import CtCountry, CtSale, CtShop


def test_primary_key_grows_to_include_the_distribution_column() -> None:
    state = collect_state([CtShop])["tables"]["ct_shop"]
    assert state["primary_key"] == ["tenant", "id"]
    assert state["colocate_with"] is None


def test_plan_orders_reference_then_colocation_targets() -> None:
    statements = plan(empty_state(), collect_state([CtSale, CtShop, CtCountry]))
    made = [s.args[0] for s in statements if "create_" in s.sql]
    assert made == ['"ct_country"', '"ct_shop"', '"ct_sale"']
    sale = [s for s in statements if "create_distributed" in s.sql][-1]
    # Co-location is always explicit: never Citus's implicit grouping by type.
    assert sale.args == ('"ct_sale"', "tenant", '"ct_shop"')
    shop = next(s for s in statements if "create_distributed" in s.sql)
    assert shop.args[2] == "none"
    # Backwards: the reverse order, tables made local again.
    back = plan(collect_state([CtSale, CtShop, CtCountry]), empty_state())
    undone = [s.args[0] for s in back if "undistribute" in s.sql]
    assert undone == ['"ct_sale"', '"ct_shop"', '"ct_country"']


def test_unknown_or_nullable_distribution_column_is_refused() -> None:
    with pytest.raises(DistributionDeclarationError, match="not a column"):

        @distributed("tenant")
        class NoTenant(Table):
            name = Varchar()

    with pytest.raises(DistributionDeclarationError, match="nullable"):

        @distributed("tenant")
        class NullTenant(Table):
            tenant = Integer(null=True)


def test_unique_without_the_distribution_column_is_refused() -> None:
    with pytest.raises(DistributionDeclarationError, match="UNIQUE"):

        @distributed("tenant")
        class UniqueEmail(Table):
            tenant = Integer(null=False)
            email = Varchar(unique=True)


def test_foreign_keys_only_to_reference_tables() -> None:
    class Local(Table):
        name = Varchar()

    with pytest.raises(DistributionDeclarationError, match="local to the coord"):

        @distributed("tenant")
        class ToLocal(Table):
            tenant = Integer(null=False)
            other = ForeignKey(Local)

    with pytest.raises(DistributionDeclarationError, match="targets its 'id'"):

        @distributed("tenant", colocate_with=CtShop)
        class ToDistributed(Table):
            tenant = Integer(null=False)
            shop = ForeignKey(CtShop)

    with pytest.raises(DistributionDeclarationError, match="other reference"):

        @reference
        class RefToDistributed(Table):
            shop = ForeignKey(CtShop)


def test_colocation_needs_a_distributed_table_of_the_same_type() -> None:
    with pytest.raises(DistributionDeclarationError, match="not a hash-distrib"):

        @distributed("tenant", colocate_with=CtCountry)
        class WithReference(Table):
            tenant = Integer(null=False)

    with pytest.raises(DistributionDeclarationError, match="same type"):

        @distributed("tenant", colocate_with=CtShop)
        class OtherType(Table):
            tenant = Varchar(null=False)


def test_hypertables_are_never_distributed() -> None:
    with pytest.raises(DistributionDeclarationError, match="hypertable"):

        @distributed("tenant")
        @hypertable("ts")
        class Both(Table):
            tenant = Integer(null=False)
            ts = Timestamptz()

    # The other order: @hypertable outside is seen when the state is read.
    @hypertable("ts")
    @distributed("tenant")
    class Later(Table):
        tenant = Integer(null=False)
        ts = Timestamptz()

    with pytest.raises(DistributionDeclarationError, match="hypertable"):
        collect_state([Later])


def test_hypertable_foreign_keys_to_citus_tables_are_refused() -> None:
    @hypertable("ts")
    class Measured(Table):
        ts = Timestamptz()
        shop = ForeignKey(CtShop)

    with pytest.raises(DistributionDeclarationError, match="wrong rows"):
        collect_state([CtShop, Measured])


def test_time_partitioned_needs_distributed_and_a_time_column() -> None:
    from pgext.citus import time_partitioned

    with pytest.raises(DistributionDeclarationError, match="above @distributed"):

        @time_partitioned("ts")
        class NotDistributed(Table):
            ts = Timestamptz()

    with pytest.raises(DistributionDeclarationError, match="Timestamptz"):

        @time_partitioned("name")
        @distributed("tenant")
        class NotTime(Table):
            tenant = Integer(null=False)
            name = Varchar()

    with pytest.raises(DistributionDeclarationError, match="interval"):

        @time_partitioned("ts", interval="1 fortnight")
        @distributed("tenant")
        class BadInterval(Table):
            tenant = Integer(null=False)
            ts = Timestamptz()


def test_tenant_schema_needs_a_schema_and_local_tables() -> None:
    with pytest.raises(DistributionDeclarationError, match="needs a table with"):

        @tenant_schema
        class NoSchema(Table):
            name = Varchar()

    with pytest.raises(DistributionDeclarationError, match="cannot be in a tenant"):

        @tenant_schema
        @distributed("tenant")
        class Both(Table, schema="ct_tenant_x"):
            tenant = Integer(null=False)

    # The other order is seen when the migration collects the state.
    @distributed("tenant")
    @tenant_schema
    class Other(Table, schema="ct_tenant_x"):
        tenant = Integer(null=False)

    with pytest.raises(DistributionDeclarationError, match="local tables only"):
        collect_state([Other])


def test_tenant_schemas_are_undistributed_first_and_distributed_last() -> None:
    @tenant_schema
    class Note(Table, schema="ct_tenant_y"):
        body = Varchar()

    state = collect_state([Note, CtShop])
    assert state["schemas"] == ["ct_tenant_y"]
    forwards = [s.sql.split("(")[0] for s in plan(empty_state(), state)]
    assert forwards[-1] == "SELECT citus_schema_distribute"
    assert forwards.index("SELECT create_distributed_table") < len(forwards) - 2
    backwards = plan(state, empty_state())
    assert backwards[0].sql.startswith("SELECT citus_schema_undistribute")
    assert backwards[0].args == ("ct_tenant_y",)
    # A state stored before schemas were declarable reads as none.
    assert plan({"tables": {}}, {"tables": {}}) == []
