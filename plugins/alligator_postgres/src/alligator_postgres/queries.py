"""The SQL the PostgreSQL backend runs, read from the ``.sql`` files beside this module.

Every query is written once, in ``sql/queries.sql``, under a ``-- name:``
line (as in the SQLite backend, and as Procrastinate does), and bound here
to a constant of the same name in capitals: ``queries.RESERVE_DUE`` is the
query named ``reserve_due``. The constants are made when this module is
imported, so a name missing from the file fails then, loudly; a test checks
that every query of the file is bound here and used. Parameters are
psycopg's named ones (``%(queue)s``) and passed as dicts.

The schema of a new database is ``sql/schema.sql``, and the migration from
version N to N + 1 is ``sql/migrate_N.sql``: scripts of several statements,
see :func:`statements`.
"""

from __future__ import annotations

from alligator import sql_files
from alligator.sql_files import parse

__all__ = ["load", "parse", "statements"]


def load(filename: str = "queries.sql") -> dict[str, str]:
    """Reads and parses one file of named queries in this package's ``sql`` folder."""
    return sql_files.load(__package__, filename)


def statements(filename: str) -> list[str]:
    """The statements of ``schema.sql`` or a ``migrate_N.sql`` of this package, to run one at a time."""
    return sql_files.statements(__package__, filename)


_QUERIES = load()


def _query(name: str) -> str:
    """The query named ``name`` in ``queries.sql``; raises at import when there is none."""
    try:
        return _QUERIES[name]
    except KeyError:
        raise LookupError(f"alligator_postgres/sql/queries.sql has no query named {name!r}") from None


SCHEMA_LOCK = _query("schema_lock")
SCHEMA_UNLOCK = _query("schema_unlock")
META_TABLE_EXISTS = _query("meta_table_exists")
READ_SCHEMA_VERSION = _query("read_schema_version")
INSERT_META = _query("insert_meta")
SET_SCHEMA_VERSION = _query("set_schema_version")
SERVER_NOW = _query("server_now")
SERVER_ENCODING = _query("server_encoding")
BEGIN_OWN = _query("begin_own")
COMMIT_OWN = _query("commit_own")
ROLLBACK_OWN = _query("rollback_own")
PUSH_TASKS = _query("push_tasks")
RESERVE_DUE = _query("reserve_due")
GET_TASK = _query("get_task")
ACK_TASKS = _query("ack_tasks")
PURGE_FINISHED = _query("purge_finished")
TRIM_EXPIRED_RESULTS = _query("trim_expired_results")
RELEASE_TASK = _query("release_task")
EXTEND_LEASES = _query("extend_leases")
BURY_TASK = _query("bury_task")
RETAIN_LETTERS = _query("retain_letters")
LISTEN_WORK = _query("listen_work")
LISTEN_DONE = _query("listen_done")
NEXT_DUE = _query("next_due")
PEEK_TASK = _query("peek_task")
CANCEL_TASK = _query("cancel_task")
TASK_STATUS = _query("task_status")
FINISHED_TASK = _query("finished_task")
SUCCEEDED_PAGE = _query("succeeded_page")
COUNT_PENDING = _query("count_pending")
DEAD_LETTERS_PAGE = _query("dead_letters_page")
REQUEUE_LETTER = _query("requeue_letter")
REQUEUE_ALL_LETTERS = _query("requeue_all_letters")
DELETE_LETTER = _query("delete_letter")
PURGE_LETTERS = _query("purge_letters")
LIST_QUEUES = _query("list_queues")
LIST_FINISHED_QUEUES = _query("list_finished_queues")
COUNT_STATES = _query("count_states")
WAITING_PAGE = _query("waiting_page")
DELAYED_PAGE = _query("delayed_page")
RUNNING_PAGE = _query("running_page")
DROP_QUEUE = _query("drop_queue")
WRITE_WORKER = _query("write_worker")
BOUND_WORKERS = _query("bound_workers")
FORGET_WORKER = _query("forget_worker")
LIVE_WORKERS = _query("live_workers")
RESUME = _query("resume")
PAUSE_LOCK = _query("pause_lock")
PAUSE_EXISTS = _query("pause_exists")
COUNT_PAUSES = _query("count_pauses")
ADD_PAUSE = _query("add_pause")
LIST_PAUSES = _query("list_pauses")
PROBE_WRITE = _query("probe_write")
SETTINGS = _query("settings")
CONNECTIONS_IN_USE = _query("connections_in_use")
PRESENT_INDEXES = _query("present_indexes")
LONG_TRANSACTIONS = _query("long_transactions")
PREPARED_TRANSACTIONS = _query("prepared_transactions")
DEAD_TUPLES = _query("dead_tuples")
