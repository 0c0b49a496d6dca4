"""The kit's ClickHouse client against the real server: bound parameters and read limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lookout_kit.clickhouse import (
    BindError,
    ClickHouse,
    ClickHouseError,
    ReadRefused,
    bind,
    client_session,
)
from lookout_testing.servers import Servers


@pytest.fixture
async def clickhouse(servers: Servers) -> AsyncIterator[ClickHouse]:
    async with client_session() as session:
        yield ClickHouse(session, url=servers.clickhouse, database="default")


async def test_values_come_back_as_they_went_in(clickhouse: ClickHouse) -> None:
    tenant = uuid.uuid4()
    moment = datetime(2026, 11, 25, 10, 0, 7, tzinfo=UTC)
    rows = await clickhouse.read(
        "SELECT {tenant:UUID} AS tenant, {name:String} AS name, {n:UInt64} AS n, "
        "{delta:Int32} AS delta, {ratio:Float64} AS ratio, {at:DateTime} AS at, "
        "{day:Date} AS day, {flag:Bool} AS flag, {ids:Array(UUID)} AS ids",
        {
            "tenant": tenant,
            "name": "Ünïcode ' \\ \" -- ;",
            "n": 2**64 - 1,
            "delta": -(2**31),
            "ratio": 0.25,
            "at": moment,
            "day": date(2026, 1, 31),
            "flag": True,
            "ids": [tenant, str(tenant)],
        },
    )
    assert rows == [
        {
            "tenant": str(tenant),
            "name": "Ünïcode ' \\ \" -- ;",
            "n": str(2**64 - 1),
            "delta": -(2**31),
            "ratio": 0.25,
            "at": "2026-11-25 10:00:07",
            "day": "2026-01-31",
            "flag": 1,
            "ids": [str(tenant), str(tenant)],
        }
    ]


@given(text=st.text(max_size=200))
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_any_string_is_a_value_never_sql(clickhouse: ClickHouse, text: str) -> None:
    rows = await clickhouse.read("SELECT {text:String} AS text, 1 AS one", {"text": text})
    assert rows == [{"text": text, "one": 1}]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ("1; DROP TABLE x", "UInt32"),
        (True, "UInt8"),
        (256, "UInt8"),
        (-1, "UInt64"),
        ("not-a-uuid", "UUID"),
        (float("nan"), "Float64"),
        (date(2026, 1, 1), "DateTime"),
        (datetime(2026, 1, 1), "Date"),
        ("abc", "Array(String)"),
        (1, "String"),
        (1, "Nullable(String)"),
    ],
)
def test_a_value_of_another_type_is_refused(value: object, type_name: str) -> None:
    with pytest.raises(BindError):
        bind(f"SELECT {{v:{type_name}}}", {"v": value})


def test_every_placeholder_needs_a_value_and_every_value_a_placeholder() -> None:
    with pytest.raises(BindError, match="no value for parameter b"):
        bind("SELECT {a:UInt8}, {b:UInt8}", {"a": 1})
    with pytest.raises(BindError, match="not in the query: c"):
        bind("SELECT {a:UInt8}", {"a": 1, "c": 2})


async def test_reads_are_limited_in_rows_time_and_to_reading(clickhouse: ClickHouse) -> None:
    with pytest.raises(ClickHouseError) as too_many:
        await clickhouse.read("SELECT number FROM system.numbers LIMIT 20", max_result_rows=10)
    assert too_many.value.code == 396
    assert (
        len(await clickhouse.read("SELECT number FROM system.numbers LIMIT 10", max_result_rows=10))
        == 10
    )
    with pytest.raises(ClickHouseError) as too_long:
        await clickhouse.read(
            "SELECT count() FROM (SELECT sleep(2))",
            max_execution_time_s=1,
        )
    assert too_long.value.code == 159
    with pytest.raises(ClickHouseError) as writing:
        await clickhouse.read(
            f"CREATE TABLE default.t_{uuid.uuid4().hex} (a UInt8) ENGINE = Memory"
        )
    assert writing.value.code == 164  # readonly


async def test_ping(clickhouse: ClickHouse, servers: Servers) -> None:
    assert await clickhouse.ping()
    async with client_session() as session:
        assert not await ClickHouse(session, url="http://127.0.0.1:1", database="default").ping()


async def test_the_stacks_reader_user_reads_and_never_writes(servers: Servers) -> None:
    async with client_session() as session:
        reader = ClickHouse(
            session, url=servers.clickhouse, database="default", user="lookout_reader"
        )
        assert await reader.read("SELECT {n:UInt8} AS n", {"n": 7}) == [{"n": 7}]
        with pytest.raises(ClickHouseError) as writing:
            await reader.execute(
                f"CREATE TABLE default.t_{uuid.uuid4().hex} (a UInt8) ENGINE = Memory"
            )
        assert writing.value.code == 164


@pytest.mark.parametrize(
    "query",
    [
        "SELECT number FROM system.numbers LIMIT 20 SETTINGS max_result_rows = 0",
        "SELECT 1 settings result_overflow_mode = 'break'",
        "SELECT 1 FORMAT TabSeparated",
    ],
)
async def test_a_read_cannot_lift_its_limits_or_change_its_format(
    clickhouse: ClickHouse, query: str
) -> None:
    with pytest.raises(ReadRefused):
        await clickhouse.read(query, max_result_rows=10)


async def test_words_in_strings_and_comments_are_not_clauses(clickhouse: ClickHouse) -> None:
    rows = await clickhouse.read(
        "SELECT 'SETTINGS FORMAT' AS words, /* FORMAT */ 1 AS one -- SETTINGS at the end"
    )
    assert rows == [{"words": "SETTINGS FORMAT", "one": 1}]
