"""The PostgreSQL plugin's SQL files: each named query bound and used; no SQL in Python strings."""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

import alligator_postgres
from alligator_postgres import limiting, queries, scheduling, unique

PACKAGE = Path(alligator_postgres.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))
KEYWORDS = "SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|BEGIN|COMMIT|ROLLBACK|WITH|LISTEN|NOTIFY|LOCK"
SQL_START = re.compile(rf"^\s*({KEYWORDS})\b")


def _names_in_file() -> list[str]:
    text = resources.files("alligator_postgres").joinpath("sql").joinpath("queries.sql").read_text("utf-8")
    return re.findall(r"^-- name: (\S+)$", text, re.MULTILINE)


def _bound() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(queries).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def test_every_query_in_the_file_is_bound_to_its_constant() -> None:
    names = _names_in_file()
    assert len(names) == len(set(names)), "a query name is given twice"
    assert sorted(name.upper() for name in names) == sorted(_bound())


def test_every_bound_query_is_used_by_the_package() -> None:
    code = "\n".join(path.read_text("utf-8") for path in SOURCES if path.name != "queries.py")
    unused = [name for name in _bound() if not re.search(rf"\bqueries\.{name}\b", code)]
    assert unused == []


def test_no_sql_in_python_strings() -> None:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_START.match(node.value):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_the_schema_splits_into_its_statements() -> None:
    statements = queries.statements("schema.sql")
    assert all(not statement.endswith(";") for statement in statements)
    # The function bodies' own semicolons stay inside their statements.
    assert sum("$$" in statement for statement in statements) == 2
    assert any(statement.startswith("CREATE TRIGGER") for statement in statements)


@pytest.mark.parametrize(
    ("filename", "module"),
    [("unique.sql", unique), ("scheduling.sql", scheduling), ("limiting.sql", limiting)],
)
def test_each_capability_s_queries_are_bound_and_used_by_its_module(
    filename: str, module: ModuleType
) -> None:
    names = sorted(name.upper() for name in queries.load(filename))
    bound = sorted(
        name
        for name, value in vars(module).items()
        if name.isupper() and value in queries.load(filename).values()
    )
    assert names == bound
    code = Path(str(module.__file__)).read_text("utf-8")
    unused = [name for name in names if len(re.findall(rf"\b{name}\b", code)) < 2]
    assert unused == [], "bound but never run"
