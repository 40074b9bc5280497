"""The SQLite plugin's SQL files: each named query bound, used and valid; no SQL in Python strings."""

from __future__ import annotations

import ast
import re
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

import alligator_sqlite
from alligator_sqlite import queries
from alligator_sqlite.schema import SCHEMA_VERSION, schema_version

PACKAGE = Path(alligator_sqlite.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))
# A string that starts like a statement (keywords in capitals, as the
# project writes them) is SQL text.
KEYWORDS = "SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH"
SQL_START = re.compile(rf"^\s*({KEYWORDS})\b")


def _names_in_file() -> list[str]:
    text = resources.files("alligator_sqlite").joinpath("sql").joinpath("queries.sql").read_text("utf-8")
    return re.findall(r"^-- name: (\S+)$", text, re.MULTILINE)


def _bound() -> dict[str, str]:
    """The module constants of ``queries`` that hold a query, by constant name."""
    return {
        name: value
        for name, value in vars(queries).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def test_every_query_in_the_file_is_bound_to_its_constant() -> None:
    names = _names_in_file()
    assert len(names) == len(set(names)), "a query name is given twice"
    assert sorted(name.upper() for name in names) == sorted(_bound())
    for name in names:
        assert getattr(queries, name.upper()) == queries.load()[name]


def test_every_bound_query_is_used_by_the_package() -> None:
    code = "\n".join(path.read_text("utf-8") for path in SOURCES if path.name != "queries.py")
    unused = [name for name in _bound() if not re.search(rf"\bqueries\.{name}\b", code)]
    assert unused == []


def test_every_query_compiles_against_the_current_schema(tmp_path: Path) -> None:
    # EXPLAIN prepares the statement: a misspelt table, column or keyword fails here.
    conn = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)
    try:
        for statement in queries.statements("schema.sql"):
            conn.execute(statement)
        for name, query in queries.load().items():
            text = query.format(milliseconds=1) if name == "set_busy_timeout" else query
            params = dict.fromkeys(re.findall(r":([a-z_]+)\b", text))
            conn.execute(f"EXPLAIN {text}", params).fetchall()
    finally:
        conn.close()


def test_the_schema_file_makes_the_current_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)
    try:
        conn.execute(queries.BEGIN_READ)
        alligator_sqlite.schema.check_schema(conn, str(tmp_path / "tasks.db"))
        conn.execute(queries.COMMIT)
        assert schema_version(conn) == SCHEMA_VERSION
    finally:
        conn.close()


def test_a_query_name_given_twice_or_without_sql_is_refused() -> None:
    with pytest.raises(ValueError, match="'reserve' is defined twice"):
        queries.parse("-- name: reserve\nSELECT 1\n-- name: reserve\nSELECT 2\n", "x.sql")
    with pytest.raises(ValueError, match="'empty' has no SQL"):
        queries.parse("-- name: empty\n-- only a comment\n\n-- name: full\nSELECT 1\n", "x.sql")


def test_a_missing_query_name_fails_loudly() -> None:
    with pytest.raises(LookupError, match="no query named 'no_such_query'"):
        queries._query("no_such_query")


def test_comments_are_dropped_and_the_query_kept_whole() -> None:
    parsed = queries.parse("-- header\n-- name: one\n-- why\nSELECT a\nFROM t  \n\n-- name: two\nSELECT 2\n")
    assert parsed == {"one": "SELECT a\nFROM t", "two": "SELECT 2"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: path.name)
def test_no_sql_text_in_python_strings(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    found = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value)
    ]
    assert found == []
