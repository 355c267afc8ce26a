"""The SQL generator for old and new TimescaleDB versions and licences,
driven with constructed capabilities (the real generator, no server)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pgext.capabilities import Capabilities, ExtensionInfo
from pgext.engine import PgextEngine
from pgext.errors import ExtensionError, LicenseError
from pgext.timescale.plan import collect_state, empty_state, plan
from pgext.timescale.sql import Statement
from tests.timescale.models import TsReading, TsReadingDaily, TsReadingHourly


def caps(version: str | None, license: str = "timescale") -> Capabilities:
    extensions = {}
    if version is not None:
        extensions["timescaledb"] = ExtensionInfo("timescaledb", version, version)
    return Capabilities(
        server_version_num=150008,
        server_version="15.8",
        extensions=extensions,
        preload_libraries=("timescaledb",),
        timescaledb_license=license,
    )


pytestmark = pytest.mark.timescale

STATE: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def state(ts: PgextEngine) -> None:
    """The models' state; compiling their selects needs a bound engine."""
    STATE.clear()
    STATE.update(collect_state([TsReading, TsReadingHourly, TsReadingDaily]))


def sqls(statements: list[Statement]) -> list[str]:
    return [s.sql for s in statements]


def test_new_api_on_2_28() -> None:
    statements = plan(empty_state(), STATE, caps("2.28.3"))
    text = sqls(statements)
    assert any("by_range($2::name, $3::text::interval)" in s for s in text)
    assert any(
        "add_dimension($1::text::regclass, by_hash($2::name, $3::int))" in s
        for s in text
    )
    assert any(
        "timescaledb.enable_columnstore = true" in s
        and "timescaledb.segmentby = '\"device_id\"'" in s
        # The key's id comes last: TimescaleDB warns when a key column is
        # neither segmented nor ordered by.
        and 'timescaledb.orderby = \'"ts" DESC, "id"\'' in s
        for s in text
    )
    assert (
        "CALL add_columnstore_policy($1::text::regclass, after => $2::text::interval)"
        in text
    )
    create = next(s for s in statements if "create_hypertable" in s.sql)
    assert create.args == ('"ts_reading"', "ts", "1 day")


def test_old_signatures_before_2_13() -> None:
    text = sqls(plan(empty_state(), STATE, caps("2.12.2")))
    assert any(
        "create_hypertable($1::text::regclass, $2::name, chunk_time_interval" in s
        for s in text
    )
    assert any("number_partitions => $3::int" in s for s in text)
    assert not any("by_range" in s or "by_hash" in s for s in text)
    assert any("timescaledb.compress = true" in s for s in text)
    assert any("timescaledb.compress_segmentby" in s for s in text)
    assert any(s.startswith("SELECT add_compression_policy") for s in text)


def test_compression_names_before_2_18_columnstore_after() -> None:
    old = sqls(plan(empty_state(), STATE, caps("2.17.2")))
    new = sqls(plan(empty_state(), STATE, caps("2.18.0")))
    assert any("by_range" in s for s in old)  # 2.13+ API already
    assert any(s.startswith("SELECT add_compression_policy") for s in old)
    assert not any("columnstore" in s for s in old)
    assert any(s.startswith("CALL add_columnstore_policy") for s in new)
    assert not any("compress" in s for s in new)


def test_order_of_a_full_plan() -> None:
    statements = plan(empty_state(), STATE, caps("2.23.0"))
    text = sqls(statements)
    position = {
        "drop pk": next(i for i, s in enumerate(text) if s.startswith("DO $pgext$")),
        "add pk": text.index(
            'ALTER TABLE "ts_reading" ADD PRIMARY KEY ("id", "ts", "device_id")'
        ),
        "hypertable": next(i for i, s in enumerate(text) if "create_hypertable" in s),
        "hourly": next(
            i for i, s in enumerate(text) if '"ts_reading_hourly" WITH' in s
        ),
        "daily": next(i for i, s in enumerate(text) if '"ts_reading_daily" WITH' in s),
    }
    assert list(position.values()) == sorted(position.values())
    views = [s for s in statements if s.sql.startswith("CREATE MATERIALIZED VIEW")]
    assert all(not s.transactional for s in views)
    assert "timescaledb.materialized_only = true" in views[0].sql
    assert "timescaledb.materialized_only = false" in views[1].sql
    assert "WITH NO DATA" in views[0].sql
    refreshes = [s for s in statements if s.sql.startswith("CALL refresh_continuous")]
    assert len(refreshes) == 2 and not any(s.transactional for s in refreshes)


def test_backwards_drops_dependents_first() -> None:
    text = sqls(plan(STATE, empty_state(), caps("2.23.0")))
    daily = text.index('DROP MATERIALIZED VIEW IF EXISTS "ts_reading_daily"')
    hourly = text.index('DROP MATERIALIZED VIEW IF EXISTS "ts_reading_hourly"')
    assert daily < hourly
    assert any(s.startswith("SELECT remove_retention_policy") for s in text)
    assert not any("create_hypertable" in s for s in text)


def test_policy_change_is_remove_then_add() -> None:
    target = copy.deepcopy(STATE)
    target["hypertables"]["ts_reading"]["retention"] = "30 days"
    statements = plan(STATE, target, caps("2.28.3"))
    assert [s.sql.split("(")[0] for s in statements] == [
        "SELECT remove_retention_policy",
        "SELECT add_retention_policy",
    ]
    assert statements[1].args == ('"ts_reading"', "30 days")
    assert plan(STATE, copy.deepcopy(STATE), caps("2.28.3")) == []


def test_changing_the_bucket_recreates_dependents() -> None:
    target = copy.deepcopy(STATE)
    hourly = target["aggregates"]["ts_reading_hourly"]
    hourly["query"] = hourly["query"].replace("'1 hour'", "'2 hours'")
    text = sqls(plan(STATE, target, caps("2.28.3")))
    assert text[0] == 'DROP MATERIALIZED VIEW IF EXISTS "ts_reading_daily"'
    assert text[1] == 'DROP MATERIALIZED VIEW IF EXISTS "ts_reading_hourly"'
    created = [s for s in text if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(created) == 2 and "'2 hours'" in created[0]


def test_realtime_and_refresh_policy_changes_alter_in_place() -> None:
    target = copy.deepcopy(STATE)
    target["aggregates"]["ts_reading_daily"]["materialized_only"] = True
    target["aggregates"]["ts_reading_hourly"]["refresh"]["schedule_interval"] = (
        "2 hours"
    )
    text = sqls(plan(STATE, target, caps("2.28.3")))
    assert 'ALTER MATERIALIZED VIEW "ts_reading_daily" ' in text[-1] or any(
        "materialized_only = true" in s for s in text
    )
    assert any(s.startswith("SELECT remove_continuous_aggregate_policy") for s in text)
    assert not any(s.startswith("CREATE MATERIALIZED VIEW") for s in text)


def test_apache_licence_refuses_community_features() -> None:
    with pytest.raises(LicenseError, match="community licence"):
        plan(empty_state(), STATE, caps("2.28.3", license="apache"))
    only_hypertable = copy.deepcopy(STATE)
    only_hypertable["aggregates"] = {}
    only_hypertable["hypertables"]["ts_reading"]["columnstore"] = None
    only_hypertable["hypertables"]["ts_reading"]["retention"] = None
    statements = plan(empty_state(), only_hypertable, caps("2.28.3", license="apache"))
    assert any("create_hypertable" in s.sql for s in statements)


def test_missing_extension_is_named() -> None:
    with pytest.raises(ExtensionError, match="timescaledb"):
        plan(empty_state(), STATE, caps(None))


def test_identifiers_needing_quotes() -> None:
    state = copy.deepcopy(STATE)
    table = state["hypertables"]["ts_reading"]
    table.update(table='Odd "Name"', schema="My Schema", primary_key=["id", "Time Col"])
    state["aggregates"] = {}
    statements = plan(
        empty_state(), {"hypertables": {"x": table}, "aggregates": {}}, caps("2.28.3")
    )
    relation = '"My Schema"."Odd ""Name"""'
    assert (
        statements[1].sql
        == f'ALTER TABLE {relation} ADD PRIMARY KEY ("id", "Time Col")'
    )
    assert statements[2].args[0] == relation
    assert '\'"My Schema"."Odd ""Name"""\'' in statements[0].sql


CREATE = (
    'CREATE TABLE "ts_reading" ("id" SERIAL PRIMARY KEY NOT NULL, '
    '"ts" TIMESTAMPTZ NOT NULL, "device_id" INTEGER NOT NULL)'
)
KEY = '"id" SERIAL PRIMARY KEY NOT NULL'


def test_create_table_with_on_2_20_and_2_23() -> None:
    from pgext.timescale.sql import create_table_with

    state = STATE["hypertables"]["ts_reading"]
    on_2_20 = create_table_with(state, CREATE, KEY, caps("2.20.0"))
    first = on_2_20[0].sql
    assert first.startswith('CREATE TABLE "ts_reading" ("id" SERIAL NOT NULL, ')
    assert 'PRIMARY KEY ("id", "ts", "device_id")) WITH (tsdb.hypertable, ' in first
    assert "tsdb.partition_column = 'ts'" in first
    assert "tsdb.chunk_interval = '1 day'" in first
    assert "tsdb.segmentby = '\"device_id\"'" in first
    assert 'tsdb.orderby = \'"ts" DESC, "id"\'' in first
    assert not any("create_hypertable" in s.sql for s in on_2_20)
    assert not any("remove_columnstore_policy" in s.sql for s in on_2_20)
    on_2_23 = [
        s.sql.split("(")[0]
        for s in create_table_with(state, CREATE, KEY, caps("2.23.0"))
    ]
    # 2.23 adds a policy by itself: it is replaced by the declared one.
    assert on_2_23[1:] == [
        "SELECT add_dimension",
        "CALL remove_columnstore_policy",
        "CALL add_columnstore_policy",
        "SELECT add_retention_policy",
    ]
    plain = {**state, "columnstore": None, "retention": None, "space": None}
    only = create_table_with(plain, CREATE, KEY, caps("2.23.0"))
    assert len(only) == 1 and "tsdb.enable_columnstore = false" in only[0].sql
    with pytest.raises(ExtensionError, match=r"2\.20\+"):
        create_table_with(state, CREATE, KEY, caps("2.19.3"))


def test_chunk_interval_and_columnstore_changes() -> None:
    target = copy.deepcopy(STATE)
    table = target["hypertables"]["ts_reading"]
    table["chunk_interval"] = "12 hours"
    table["columnstore"] = {"segment_by": [], "order_by": ["ts"], "after": None}
    statements = plan(STATE, target, caps("2.28.3"))
    assert [s.sql.split("(")[0] for s in statements] == [
        "SELECT set_chunk_time_interval",
        "CALL remove_columnstore_policy",
        'ALTER TABLE "ts_reading" SET ',
    ]
    assert statements[0].args == ('"ts_reading"', "12 hours")
    assert "timescaledb.segmentby = ''" in statements[2].sql
    # No segmentby: every key column goes into orderby, after the declared.
    assert 'timescaledb.orderby = \'"ts", "id", "device_id"\'' in (statements[2].sql)
    table["columnstore"] = None
    off = sqls(plan(STATE, target, caps("2.17.0")))
    assert off[-1] == 'ALTER TABLE "ts_reading" SET (timescaledb.compress = false)'
    assert "SELECT remove_compression_policy" in off[-2]


def test_unsupported_changes_are_refused() -> None:
    from pgext.timescale.errors import UnsupportedChange

    for field, value in (("time_column", "other"), ("space", None)):
        target = copy.deepcopy(STATE)
        target["hypertables"]["ts_reading"][field] = value
        with pytest.raises(UnsupportedChange):
            plan(STATE, target, caps("2.28.3"))
