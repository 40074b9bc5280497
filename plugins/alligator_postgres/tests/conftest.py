"""Fixtures: a database of our own on the machine's PostgreSQL, dropped at the end.

Without a server the tests that need one are skipped, except under
``CI=true``, where a missing service is a failure, not a reason to pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from postgres_servers import SERVER_URL, answers, create_database, drop_database, drop_schema, new_schema


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a database this test session created, dropped when it ends."""
    if not answers():
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL answers at {SERVER_URL} (CI=true: .ci/run starts it)")
        pytest.skip(f"no PostgreSQL answers at {SERVER_URL}")
    dsn = create_database()
    yield dsn
    drop_database(dsn)


@pytest.fixture
def schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """The DSN of a schema of its own in the session's database (tables of one test), dropped afterwards."""
    dsn, schema = new_schema(postgres_dsn)
    yield dsn
    drop_schema(postgres_dsn, schema)
