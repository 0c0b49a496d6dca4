"""``{{ name }}`` expansion as pure logic (hypothesis): wherever a placeholder stands in the
author's text, a value bound on the client (ClickHouse's literals, MySQL's escaped strings) stays
inside its own quotes, read by the dialect's quoting rules; the suite on the real servers checks
those rules against the servers themselves."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lookout_datasource.service.connectors.base import QueryError
from lookout_datasource.service.connectors.placeholders import _scanner, expand
from lookout_kit.clickhouse import quote

MARK = "ZQXJ"
FRAGMENTS = ["'", '"', "`", "--", "/*", "*/", "#", "\n", "\\", " x ", ",", "{{ v }}", "''"]
DANGEROUS = "'\"`\\-/*#\n\r {}$%;"


def _clickhouse_literal(value: str) -> str:
    return quote(value)


def _doubled_quotes_literal(value: str) -> str:
    """MySQL's escaping under NO_BACKSLASH_ESCAPES: quotes doubled, backslashes as they are."""
    return "'" + value.replace("'", "''") + "'"


def _outside_quotes(sql: str, *, backslash_escapes: bool, hash_comments: bool) -> str:
    """``sql`` with every string, quoted name and comment cut out, by the dialect's rules."""
    return _scanner(backslash_escapes, hash_comments).sub(" ", sql)


@pytest.mark.parametrize(
    ("literal", "backslash_escapes", "hash_comments"),
    [
        (_clickhouse_literal, True, False),
        (_clickhouse_literal, True, True),
        (_doubled_quotes_literal, False, True),
    ],
)
@settings(max_examples=400, deadline=None)
@given(
    fragments=st.lists(st.sampled_from(FRAGMENTS), max_size=12),
    prefix=st.text(alphabet=DANGEROUS, max_size=8),
    suffix=st.text(alphabet=DANGEROUS, max_size=8),
)
def test_a_bound_value_never_leaves_its_quotes(
    literal: object,
    backslash_escapes: bool,
    hash_comments: bool,
    fragments: list[str],
    prefix: str,
    suffix: str,
) -> None:
    sql = "SELECT {{ v }} " + "".join(fragments)
    try:
        bound = expand(
            sql,
            {"v": prefix + MARK + suffix},
            literal,  # type: ignore[arg-type]
            backslash_escapes=backslash_escapes,
            hash_comments=hash_comments,
        )
    except QueryError as error:
        assert "inside a quoted string or a comment" in error.message
        return
    code = _outside_quotes(bound, backslash_escapes=backslash_escapes, hash_comments=hash_comments)
    assert MARK not in code


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT '{{ v }}'",
        "SELECT 1 -- {{ v }}",
        "SELECT /* {{ v }} */ 1",
        "SELECT `{{ v }}`",
        'SELECT "{{ v }}"',
        "SELECT 'open {{ v }}",
    ],
)
def test_a_placeholder_in_quotes_is_refused(sql: str) -> None:
    with pytest.raises(QueryError):
        expand(sql, {"v": "x"}, _clickhouse_literal)


def test_a_list_expands_to_one_bound_value_each_and_an_empty_one_to_null() -> None:
    bound = expand("x IN ({{ ids }}) AND y IN ({{ none }})", {"ids": [1, 2], "none": []}, repr)
    assert bound == "x IN (1, 2) AND y IN (NULL)"
