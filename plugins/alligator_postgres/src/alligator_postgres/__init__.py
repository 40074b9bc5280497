"""The PostgreSQL backend (see the module docstring filled in below)."""

from __future__ import annotations

from alligator_postgres.backend import PostgresBackend
from alligator_postgres.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "PostgresBackend"]
__version__ = "1.0.0"
