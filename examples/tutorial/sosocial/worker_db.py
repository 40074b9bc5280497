"""Database connections in a long-lived worker."""

from contextlib import contextmanager

from django.db import close_old_connections, connection


@contextmanager
def fresh_connections():
    """Drops connections that are broken or past CONN_MAX_AGE, before and after a task.

    Django does this at the start and end of every request; a worker serves
    no requests, so a task does it. Inside a transaction (a test's, or a
    task run in-process with is_async=False) there is nothing to do.
    """
    if connection.in_atomic_block:
        yield
        return
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()
