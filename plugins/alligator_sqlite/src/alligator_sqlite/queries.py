"""The SQL the SQLite backend runs, read from the ``.sql`` files beside this module.

Every query is written once, in ``sql/queries.sql``, under a ``-- name:``
line (as Procrastinate does), and bound here to a constant of the same name
in capitals: ``queries.RESERVE_DUE`` is the query named ``reserve_due``. The
constants are made when this module is imported, so a name missing from the
file fails then, loudly, not at the first task; a test checks that every
query of the file is bound here and used. Parameters are named (``:queue``,
``:now``) and passed as dicts, so a reader sees what goes where.

The schema of a new file is ``sql/schema.sql``, and the migration from
version N to N + 1 is ``sql/migrate_N.sql``: scripts of several statements,
see :func:`statements`.

Example:
    >>> from alligator_sqlite import queries
    >>> queries.COUNT_PENDING
    'SELECT count(*) FROM alligator_tasks WHERE queue = :queue AND (receipt IS NULL OR due <= :now)'
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
        raise LookupError(f"alligator_sqlite/sql/queries.sql has no query named {name!r}") from None


# -- connections and transactions ---------------------------------------------
SET_BUSY_TIMEOUT = _query("set_busy_timeout")
SET_WAL_MODE = _query("set_wal_mode")
SET_SYNCHRONOUS_FULL = _query("set_synchronous_full")
SET_SYNCHRONOUS_NORMAL = _query("set_synchronous_normal")
BEGIN_WRITE = _query("begin_write")
BEGIN_READ = _query("begin_read")
COMMIT = _query("commit")
DATA_VERSION = _query("data_version")
# -- schema --------------------------------------------------------------------
META_TABLE_EXISTS = _query("meta_table_exists")
READ_SCHEMA_VERSION = _query("read_schema_version")
INSERT_META = _query("insert_meta")
SET_SCHEMA_VERSION = _query("set_schema_version")
# -- shared steps --------------------------------------------------------------
NEXT_SEQS = _query("next_seqs")
RECORD_FINISHED = _query("record_finished")
PURGE_FINISHED = _query("purge_finished")
BURY_LETTER_ZEROBLOB = _query("bury_letter_zeroblob")
BURY_LETTER_COPY = _query("bury_letter_copy")
BURY_FINISHED = _query("bury_finished")
DELETE_TASK_ROW = _query("delete_task_row")
OLDEST_LETTER_TIME = _query("oldest_letter_time")
EXPIRED_LETTERS = _query("expired_letters")
COUNT_LETTERS = _query("count_letters")
OLDEST_LETTERS = _query("oldest_letters")
FORGET_LETTER_STATUS = _query("forget_letter_status")
DELETE_LETTER_ROW = _query("delete_letter_row")
FORGET_DEAD_PRIORITY = _query("forget_dead_priority")
KEEP_DEAD_PRIORITY = _query("keep_dead_priority")
FORGET_LETTER_PRIORITY = _query("forget_letter_priority")
FORGET_QUEUE_DEAD_PRIORITIES = _query("forget_queue_dead_priorities")
# -- reading records -----------------------------------------------------------
LETTER_HEAD = _query("letter_head")
TASK_ID_SIZE = _query("task_id_size")
TASK_ID_HEAD = _query("task_id_head")
CORRUPT_DUE = _query("corrupt_due")
CORRUPT_SEQ = _query("corrupt_seq")
CORRUPT_ATTEMPTS = _query("corrupt_attempts")
CORRUPT_FAILURES = _query("corrupt_failures")
CORRUPT_PRIORITY = _query("corrupt_priority")
PAYLOAD_SIZE_AND_BYTES = _query("payload_size_and_bytes")
LETTER_PAYLOAD_HEAD = _query("letter_payload_head")
# -- producing and consuming ---------------------------------------------------
PUSH_TASK = _query("push_task")
PUSH_ONE_TASK = _query("push_one_task")
PUSH_PRIORITIZED_TASK = _query("push_prioritized_task")
FORGET_FINISHED_UNLESS_DEAD = _query("forget_finished_unless_dead")
FORGET_RESULT_UNLESS_DEAD = _query("forget_result_unless_dead")
RESERVE_DUE = _query("reserve_due")
CORRUPT_DUE_ROWS = _query("corrupt_due_rows")
CORRUPT_PRIORITY_ROWS = _query("corrupt_priority_rows")
NEXT_PRIORITY = _query("next_priority")
TOP_PRIORITY = _query("top_priority")
TAKE_LEASE = _query("take_lease")
ACK_TASK = _query("ack_task")
KEEP_RESULT = _query("keep_result")
TRIM_EXPIRED_RESULTS = _query("trim_expired_results")
TRIM_CORRUPT_RESULTS = _query("trim_corrupt_results")
RELEASE_TASK = _query("release_task")
EXTEND_LEASE = _query("extend_lease")
HELD_TASK_ROWID = _query("held_task_rowid")
GET_TASK = _query("get_task")
# -- inspecting and managing ---------------------------------------------------
PEEK_TASK = _query("peek_task")
CANCEL_TASK = _query("cancel_task")
TASK_STATUS = _query("task_status")
TASK_EXISTS = _query("task_exists")
LETTER_EXISTS = _query("letter_exists")
RECENT_STATUS = _query("recent_status")
FINISHED_LETTER = _query("finished_letter")
FINISHED_SUCCESS = _query("finished_success")
FINISHED_RESULT = _query("finished_result")
SUCCEEDED_PAGE = _query("succeeded_page")
COUNT_PENDING = _query("count_pending")
DEAD_LETTERS_PAGE = _query("dead_letters_page")
REQUEUE_LETTER = _query("requeue_letter")
DELETE_LETTER = _query("delete_letter")
FORGET_FINISHED = _query("forget_finished")
FORGET_RESULT = _query("forget_result")
LIST_QUEUES = _query("list_queues")
LIST_FINISHED_QUEUES = _query("list_finished_queues")
COUNT_STATES = _query("count_states")
COUNT_LIVE_LETTERS = _query("count_live_letters")
DEAD_PAGE = _query("dead_page")
WAITING_PAGE = _query("waiting_page")
DELAYED_PAGE = _query("delayed_page")
RUNNING_PAGE = _query("running_page")
LETTER_ROWIDS = _query("letter_rowids")
FORGET_FAILED_OF_QUEUE = _query("forget_failed_of_queue")
PURGE_LETTERS = _query("purge_letters")
REQUEUEABLE_LETTERS = _query("requeueable_letters")
REQUEUE_LETTER_ROW = _query("requeue_letter_row")
FORGET_LETTER_FINISHED = _query("forget_letter_finished")
DROP_QUEUE_TASKS = _query("drop_queue_tasks")
DROP_QUEUE_DEAD = _query("drop_queue_dead")
DROP_QUEUE_FINISHED = _query("drop_queue_finished")
DROP_QUEUE_RESULTS = _query("drop_queue_results")
# -- live workers and pauses ---------------------------------------------------
WRITE_WORKER = _query("write_worker")
DROP_EXPIRED_WORKERS = _query("drop_expired_workers")
DROP_CORRUPT_WORKERS = _query("drop_corrupt_workers")
COUNT_WORKERS = _query("count_workers")
DROP_OLDEST_WORKERS = _query("drop_oldest_workers")
WORKER_LIVE = _query("worker_live")
DELETE_WORKER = _query("delete_worker")
LIVE_WORKERS = _query("live_workers")
RESUME = _query("resume")
PAUSE_EXISTS = _query("pause_exists")
COUNT_PAUSES = _query("count_pauses")
ADD_PAUSE = _query("add_pause")
LIST_PAUSES = _query("list_pauses")
# -- schedules -----------------------------------------------------------------
SCHEDULE_LAST_TICK = _query("schedule_last_tick")
RECORD_TICK = _query("record_tick")
LIST_SCHEDULE_TICKS = _query("list_schedule_ticks")
DROP_QUEUE_SCHEDULES = _query("drop_queue_schedules")
# -- deployment checks ---------------------------------------------------------
READ_JOURNAL_MODE = _query("read_journal_mode")
DATABASE_LIST = _query("database_list")
READ_PAGE_SIZE = _query("read_page_size")
READ_WAL_AUTOCHECKPOINT = _query("read_wal_autocheckpoint")
CREATE_PROBE_TABLE = _query("create_probe_table")
ROLLBACK = _query("rollback")
# -- rate limits and concurrency slots per key ---------------------------------
DROP_PAST_RATES = _query("drop_past_rates")
RATE_TIME = _query("rate_time")
SET_RATE_TIME = _query("set_rate_time")
DROP_STALE_BOOKINGS = _query("drop_stale_bookings")
BOOKING_OF = _query("booking_of")
DELETE_BOOKING = _query("delete_booking")
ADD_BOOKING = _query("add_booking")
DROP_ENDED_SLOTS = _query("drop_ended_slots")
DROP_OLD_WAITERS = _query("drop_old_waiters")
SLOT_HOLDERS = _query("slot_holders")
SET_SLOT = _query("set_slot")
DELETE_WAITER = _query("delete_waiter")
ADD_WAITER = _query("add_waiter")
EXTEND_SLOT = _query("extend_slot")
RELEASE_SLOT = _query("release_slot")
RATE_STATES = _query("rate_states")
SLOT_STATES = _query("slot_states")
