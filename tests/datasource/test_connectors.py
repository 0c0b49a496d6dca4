"""The connectors' one behaviour suite, run against each kind's real server on this machine:
introspection, every parameter type, inert injection, row limit, timeout, cancel, read-only,
and the clear errors of a source that cannot be used."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from lookout_datasource.service.connectors import registry
from lookout_datasource.service.connectors.base import ConnectorError, QueryResult
from lookout_testing.broker import free_port
from lookout_testing.waiting import wait_until
from pydantic import SecretStr

from .connector_sources import (  # noqa: F401
    LOOPBACK,
    Source,
    source_fixture,
    source_server_fixture,
)

INJECTIONS = [
    "'; DROP TABLE people; --",
    "\\'; DROP TABLE people; --",
    "' OR '1'='1",
    '" OR ""="',
    "1); DROP TABLE people; --",
    "*/ DROP TABLE people; /*",
    "{{ other }}",
    "$1 %s %(name)s ? :name",
    "\\",
    "ann' --",
]


async def execute(
    source: Source,
    sql: str,
    parameters: dict[str, Any] | None = None,
    *,
    row_limit: int = 100,
    timeout_s: float = 10.0,
    execution_id: uuid.UUID | None = None,
) -> QueryResult:
    return await source.connector.execute(
        source.config,
        sql,
        parameters or {},
        row_limit=row_limit,
        timeout_s=timeout_s,
        execution_id=execution_id or uuid.uuid4(),
    )


async def test_test_connection_gives_the_version_and_latency(source: Source) -> None:
    info = await source.connector.test(source.config)
    flavour = {"postgresql": "PostgreSQL", "clickhouse": "ClickHouse", "mysql": "M"}[source.kind]
    assert info.version.startswith(flavour)
    assert any(character.isdigit() for character in info.version)
    assert 0 <= info.latency_ms < 5000


async def test_introspection_lists_the_tables_columns(source: Source) -> None:
    engine = " ENGINE = Memory" if source.kind == "clickhouse" else ""
    await source.run(f"CREATE TABLE zebra (zulu INT, alpha INT, mike INT){engine}")
    columns = await source.connector.introspect(source.config)
    zebra = [column.column_name for column in columns if column.table_name == "zebra"]
    assert zebra == ["zulu", "alpha", "mike"]  # the table's own order
    people = [column for column in columns if column.table_name == "people"]
    assert [column.column_name for column in people] == ["id", "name"]
    assert all(column.schema_name in ("public", source.config.database) for column in people)
    types = {column.column_name: column.data_type.lower() for column in people}
    assert "int" in types["id"]
    assert any(word in types["name"] for word in ("text", "string", "char"))
    assert not {column.table_name for column in columns} - {"people", "zebra"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain text", "plain text", id="text"),
        pytest.param(42, 42, id="number-int"),
        pytest.param(1.5, 1.5, id="number-float"),
        pytest.param(date(2024, 2, 29), "2024-02-29", id="date"),
        pytest.param("gold", "gold", id="enum"),
    ],
)
async def test_each_parameter_type_round_trips_as_data(
    source: Source, value: Any, expected: Any
) -> None:
    result = await execute(source, "SELECT {{ value }} AS value", {"value": value})
    assert [column.name for column in result.columns] == ["value"]
    assert json.loads(result.rows_json) == [[expected]]


async def test_a_datetime_parameter_round_trips(source: Source) -> None:
    moment = datetime(2024, 2, 29, 13, 14, 15, tzinfo=UTC)
    result = await execute(source, "SELECT {{ at }} AS at", {"at": moment})
    back = datetime.fromisoformat(json.loads(result.rows_json)[0][0])
    assert (back.astimezone(UTC) if back.tzinfo else back.replace(tzinfo=UTC)) == moment


async def test_a_list_parameter_binds_an_in_list(source: Source) -> None:
    query = "SELECT name FROM people WHERE id IN ({{ ids }}) ORDER BY id"
    assert (await execute(source, query, {"ids": [1, 3]})).rows == [["ann"], ["o'hara"]]
    assert (await execute(source, query, {"ids": []})).rows == []
    by_name = "SELECT id FROM people WHERE name IN ({{ names }}) ORDER BY id"
    assert (await execute(source, by_name, {"names": ["o'hara", "bob"]})).rows == [[2], [3]]


async def test_a_placeholder_without_a_value_is_a_query_error(source: Source) -> None:
    with pytest.raises(ConnectorError) as raised:
        await execute(source, "SELECT {{ missing }}", {})
    assert raised.value.code == "query_error"
    with pytest.raises(ConnectorError) as raised:
        await execute(source, "SELECT 1", {"unused": 1})
    assert raised.value.code == "query_error"


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_through_text_and_enum_is_inert(source: Source, payload: str) -> None:
    result = await execute(source, "SELECT {{ value }} AS value", {"value": payload})
    assert result.rows == [[payload]]
    matched = await execute(
        source, "SELECT id FROM people WHERE name = {{ name }}", {"name": payload}
    )
    assert matched.rows == []
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id FROM people WHERE name = '{{ name }}'",
        "SELECT id FROM people WHERE name LIKE '%{{ name }}%'",
        'SELECT id FROM people WHERE name = "{{ name }}"',
        "SELECT id FROM people WHERE name = 'it''s' OR name = '{{ name }}'",
        "SELECT id FROM people WHERE name = 'a\\' OR name = '{{ name }}'",
        "SELECT id FROM people -- {{ name }}\nWHERE 1 = 0",
        "SELECT id FROM people /* {{ name }} */ WHERE 1 = 0",
        "SELECT id FROM people WHERE name = '{{ name }}",
    ],
)
async def test_a_placeholder_in_quotes_or_a_comment_is_refused(source: Source, query: str) -> None:
    """Bound on the client, its value's quotes would close the author's: refused, never run.
    (After ``'a\\'`` the placeholder is outside the quotes for a dialect where a backslash
    escapes, and the query's last quote is left open: a syntax error there.)"""
    with pytest.raises(ConnectorError) as raised:
        await execute(source, query, {"name": "x' OR '1'='1' -- "})
    assert raised.value.code == "query_error"
    if "'a\\'" not in query or source.kind == "postgresql":
        assert "inside a quoted string or a comment" in raised.value.message


async def test_any_text_comes_back_as_itself(source: Source) -> None:
    """120 strings drawn from the characters that matter to quoting, escaping and comments."""
    draw = random.Random(1163)
    alphabet = "'\"\\`;-/*#%$?:{}()\n\r\t aé€😀0\x1a"
    for _ in range(120):
        text = "".join(draw.choice(alphabet) for _ in range(draw.randint(0, 24)))
        result = await execute(source, "SELECT {{ text }} AS text", {"text": text})
        assert result.rows == [[text]], repr(text)
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]


async def test_injection_through_a_list_is_inert(source: Source) -> None:
    result = await execute(
        source,
        "SELECT id FROM people WHERE name IN ({{ names }}) ORDER BY id",
        {"names": ["ann", *INJECTIONS]},
    )
    assert result.rows == [[1]]
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]


@pytest.mark.parametrize("payload", ["1 OR 1=1", "1; DROP TABLE people"])
async def test_injection_where_a_number_goes_is_inert(source: Source, payload: str) -> None:
    """A string where the query compares a number: an error or at most the one row, never all."""
    try:
        result = await execute(source, "SELECT id FROM people WHERE id = {{ id }}", {"id": payload})
    except ConnectorError as error:
        assert error.code == "query_error"
    else:
        assert result.rows in ([], [[1]])
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]


async def test_the_row_limit_truncates_and_says_so(source: Source) -> None:
    query = "SELECT id, name FROM people ORDER BY id"
    limited = await execute(source, query, row_limit=2)
    assert limited.rows == [[1, "ann"], [2, "bob"]]
    assert (limited.row_count, limited.truncated) == (2, True)
    assert limited.rows_json == b'[[1,"ann"],[2,"bob"]]'
    assert limited.bytes == len(limited.rows_json)
    whole = await execute(source, query, row_limit=3)
    assert (whole.row_count, whole.truncated) == (3, False)
    assert [column.name for column in whole.columns] == ["id", "name"]


async def test_a_timeout_stops_the_query_on_the_server(source: Source) -> None:
    marker = f"m{uuid.uuid4().hex}"
    started = time.monotonic()
    with pytest.raises(ConnectorError) as raised:
        await execute(source, source.long_query(marker), timeout_s=1.0)
    assert raised.value.code == "timeout"
    assert time.monotonic() - started < 4.5
    await wait_until(
        lambda: _gone(source, marker), timeout=2, message="the query to leave the process list"
    )


async def test_cancel_stops_a_running_query_on_the_server(source: Source) -> None:
    marker = f"m{uuid.uuid4().hex}"
    execution_id = uuid.uuid4()
    running = asyncio.create_task(
        execute(source, source.long_query(marker), timeout_s=30, execution_id=execution_id)
    )
    try:
        await wait_until(
            lambda: source.running(marker), timeout=10, message="the query to be running"
        )
        started = time.monotonic()
        assert await source.connector.cancel(source.config, execution_id) is True
        with pytest.raises(ConnectorError) as raised:
            await asyncio.wait_for(running, timeout=10)
        assert raised.value.code == "cancelled"
        assert time.monotonic() - started < 5
        await wait_until(
            lambda: _gone(source, marker), timeout=2, message="the query to leave the process list"
        )
    finally:
        running.cancel()
    assert await source.connector.cancel(source.config, uuid.uuid4()) is False


async def test_a_caller_that_goes_away_stops_its_query_on_the_server(source: Source) -> None:
    marker = f"m{uuid.uuid4().hex}"
    running = asyncio.create_task(execute(source, source.long_query(marker), timeout_s=30))
    await wait_until(lambda: source.running(marker), timeout=10, message="the query to be running")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await wait_until(
        lambda: _gone(source, marker), timeout=3, message="the query to leave the process list"
    )


async def _gone(source: Source, marker: str) -> bool:
    return await source.running(marker) == 0


async def test_writes_fail_as_read_only_and_change_nothing(source: Source) -> None:
    for statement in source.writes:
        with pytest.raises(ConnectorError) as raised:
            await execute(source, statement)
        assert raised.value.code == "read_only_violation", statement
        assert "Traceback" not in raised.value.message
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]
    tables = {column.table_name for column in await source.connector.introspect(source.config)}
    assert tables == {"people"}


@pytest.mark.parametrize("source_server", ["mysql"], indirect=True)
async def test_a_transaction_a_query_opens_does_not_outlive_it_on_a_pooled_connection(
    source: Source,
) -> None:
    """``SET autocommit = 0`` is allowed read-only: on a pooled connection its transaction (and
    its snapshot) must not serve the next execution, whoever runs it."""
    pool = await source.connector.open_pool(source.config, max_size=1)
    try:

        async def pooled(sql: str) -> QueryResult:
            return await source.connector.execute(
                source.config,
                sql,
                {},
                row_limit=100,
                timeout_s=10.0,
                execution_id=uuid.uuid4(),
                pool=pool,
            )

        await pooled("SET autocommit = 0")
        assert (await pooled("SELECT count(*) FROM people")).rows == [[3]]
        await source.run("INSERT INTO people VALUES (4, 'dan')")
        assert (await pooled("SELECT count(*) FROM people")).rows == [[4]]
        assert (await pooled("SELECT @@in_transaction")).rows == [[0]]
    finally:
        await pool.close()


async def test_a_second_statement_is_refused(source: Source) -> None:
    with pytest.raises(ConnectorError) as raised:
        await execute(source, "SELECT 1; DROP TABLE people")
    assert raised.value.code == "query_error"
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]


async def _error_of(source: Source, **changes: Any) -> ConnectorError:
    password = f"pw-{uuid.uuid4().hex}"
    config = source.config.model_copy(update={"password": SecretStr(password), **changes})
    with pytest.raises(ConnectorError) as raised:
        await source.connector.test(config)
    assert password not in raised.value.message
    assert password not in str(raised.value)
    assert "Traceback" not in raised.value.message
    return raised.value


async def test_an_unknown_user_is_bad_credentials(source: Source) -> None:
    error = await _error_of(source, user=f"nobody_{uuid.uuid4().hex[:8]}")
    assert error.code == "bad_credentials"


@pytest.mark.parametrize("source_server", ["clickhouse", "mysql"], indirect=True)
async def test_a_wrong_password_is_bad_credentials(source: Source) -> None:
    """(PostgreSQL here trusts loopback: it checks no password.)"""
    assert (await _error_of(source)).code == "bad_credentials"


async def test_an_unknown_database_says_so(source: Source) -> None:
    config = source.config.model_copy(update={"database": f"nowhere_{uuid.uuid4().hex[:8]}"})
    with pytest.raises(ConnectorError) as raised:
        await source.connector.test(config)
    assert raised.value.code == "unknown_database"


async def test_a_closed_port_is_unreachable(source: Source) -> None:
    error = await _error_of(source, port=free_port())
    assert error.code == "unreachable"


@pytest.mark.parametrize("source_server", ["clickhouse"], indirect=True)
async def test_a_clickhouse_user_read_only_by_profile_runs_queries(source: Source) -> None:
    """The local stack's ``lookout_reader`` has ``readonly=2`` in its profile: the server will not
    have ``readonly`` set again, so the connector keeps the profile's (still no writes)."""
    source.config = source.config.model_copy(update={"user": "lookout_reader"})
    source.connector = registry.connector("clickhouse", LOOPBACK)
    assert (await source.connector.test(source.config)).version.startswith("ClickHouse")
    assert json.loads((await execute(source, "SELECT {{ n }} AS n", {"n": 7})).rows_json) == [[7]]
    for statement in source.writes:
        with pytest.raises(ConnectorError) as raised:
            await execute(source, statement)
        assert raised.value.code == "read_only_violation", statement
    assert await source.people() == [(1, "ann"), (2, "bob"), (3, "o'hara")]
