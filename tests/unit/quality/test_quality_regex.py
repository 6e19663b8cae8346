from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salestalk.quality.regex import UnsupportedRegexError, python_regex_to_re2
from salestalk.quality.suite import load_suite, suite_path

PATTERNS = [
    next(e.kwargs["regex"] for e in load_suite(suite_path("deals")).expectations if "regex" in e.kwargs),
    r"",
    r"a$",
    r"(a$)?",
    r"(x|y$)",
    r"^\s*$",
    r"\d+",
    r"[^\W_]x",
    r"\S@\S",
    r"[\s@]",
    r"a.b",
    r"a{,2}b",
    r"\Aab\Z",
    r"(?P<user>[a-z]+)@",
    r"é+|😀",
    r"[^a]",
    r"[]a]",
    r"[[:alpha:]]",
    r"a*?b+?",
    r"\.\*\\\$",
]
INTERESTING = ["a", "b", "x", "y", "@", ".", "é", "e\u0301", "\n", "\r", " ", "\u00a0", "\x1c", "\v", "\x00",
               "1", "٣", "_", "Z", "😀", "-", "[", "]", ":", "\u2028", "*", "\\", "$"]  # fmt: skip
TEXT = st.lists(
    st.one_of(st.sampled_from(INTERESTING), st.characters(exclude_categories=["Cs"])), max_size=8
).map("".join)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def duckdb_matches(con: duckdb.DuckDBPyConnection, pattern: str, strings: list[str]) -> list[bool]:
    return (
        con.execute(
            "SELECT list(regexp_matches(s, ?) ORDER BY i) FROM (SELECT unnest(?) AS s, unnest(range(?)) AS i)",
            [python_regex_to_re2(pattern), strings, len(strings)],
        ).fetchall()[0][0]
        or []
    )


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")
@settings(max_examples=40, deadline=None)
@given(strings=st.lists(TEXT, min_size=1, max_size=40))
def test_translated_patterns_decide_like_python_re_search(
    con: duckdb.DuckDBPyConnection, strings: list[str]
) -> None:
    strings = [*strings, "a@b.co\n", "a@b.co\n\n", "ab\n"]
    for pattern in PATTERNS:
        expected = [re.search(pattern, s) is not None for s in strings]
        assert duckdb_matches(con, pattern, strings) == expected, pattern


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"a$b", "'\\$' followed by more pattern"),
        (r"a$\n", "followed by more pattern"),
        (r"(a$)*", "followed by more pattern"),
        (r"\bfoo", "word boundaries"),
        (r"(?i)a", "inline flags"),
        (r"(?i:a)b", "inline flags"),
        (r"(?=a)", "lookahead"),
        (r"(?<!a)b", "lookahead"),
        (r"(a)\1", "backreferences"),
        (r"(a)?(?(1)b|c)", "conditional"),
        (r"a*+", "possessive"),
        (r"(?>a)", "atomic"),
        (r"a{1001}", "repetition count"),
        (r"a(", "invalid regex"),
    ],
)
def test_constructs_without_an_identical_re2_meaning_are_rejected(pattern: str, message: str) -> None:
    with pytest.raises(UnsupportedRegexError, match=message):
        python_regex_to_re2(pattern)


def test_translation_spells_python_end_anchor_and_dot_explicitly() -> None:
    assert python_regex_to_re2(r"^a.$") == r"\A\x{61}[^\x{A}](?:\x{A}?\z)"
