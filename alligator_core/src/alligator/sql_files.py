"""Reading the ``.sql`` files a backend ships: named queries, and scripts of several statements.

A backend that speaks SQL keeps it in files beside its modules, never in
Python strings. ``queries.sql`` holds each query under a ``-- name: NAME``
line (as Procrastinate does); ``schema.sql`` and ``migrate_N.sql`` are
scripts whose statements each end with a semicolon at the end of a line (so
a PostgreSQL function body quoted with ``$$`` keeps the semicolons inside its
lines). The SQLite and PostgreSQL backends both read theirs through here.

Example:
    >>> parse("-- name: one\\n-- why\\nSELECT 1\\n-- name: two\\nSELECT 2\\n")
    {'one': 'SELECT 1', 'two': 'SELECT 2'}
"""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["load", "parse", "read", "statements"]

# "-- name: reserve_due" starts a query; it runs to the next such line.
_NAME_LINE = re.compile(r"^-- name: ([a-z][a-z0-9_]*)\s*$", re.MULTILINE)
# A statement of a script ends with a semicolon at the end of a line.
_STATEMENT_END = re.compile(r";\s*$", re.MULTILINE)


def read(package: str, filename: str) -> str:
    """The text of ``filename`` in the ``sql`` folder of ``package`` (an importable package's name)."""
    return resources.files(package).joinpath("sql").joinpath(filename).read_text(encoding="utf-8")


def _strip_comments(text: str) -> str:
    """The text without its whole-line ``--`` comments and blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("--"))


def parse(text: str, source: str = "<sql>") -> dict[str, str]:
    """Splits a file of named queries into ``{name: query}``.

    Args:
        text: The file's text: each query starts with a ``-- name: NAME``
            line; whole-line ``--`` comments are dropped.
        source: The file's name, for the error messages.

    Returns:
        Each query's text by name, in the file's order.

    Raises:
        ValueError: A name is given twice, or a name has no query under it.
    """
    found: dict[str, str] = {}
    parts = _NAME_LINE.split(text)
    # parts: [preamble, name, body, name, body, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"{source}: the query {name!r} is defined twice")
        query = _strip_comments(body)
        if not query:
            raise ValueError(f"{source}: the query {name!r} has no SQL under its name line")
        found[name] = query
    return found


def load(package: str, filename: str = "queries.sql") -> dict[str, str]:
    """Reads and parses one file of named queries in ``package``'s ``sql`` folder (see :func:`parse`)."""
    return parse(read(package, filename), filename)


def statements(package: str, filename: str) -> list[str]:
    """The statements of a script in ``package``'s ``sql`` folder, comments dropped, to run one at a time.

    Args:
        package: The backend's package.
        filename: ``schema.sql`` or ``migrate_N.sql``: statements each
            ending with a semicolon at the end of a line.
    """
    text = _strip_comments(read(package, filename))
    return [statement.strip() for statement in _STATEMENT_END.split(text) if statement.strip()]
