"""PostgreSQL-specific behaviour: waking by LISTEN/NOTIFY, the schema's version, errors, reconnection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from postgres_servers import drop_schema, new_schema

from alligator import Gator
from alligator.exceptions import BackendError, InvalidDSNError, PermanentBackendError
from alligator_postgres import SCHEMA_VERSION, PostgresBackend

LEASE = 30.0


@pytest.fixture
def backend(schema_dsn: str) -> Iterator[PostgresBackend]:
    backend = PostgresBackend(schema_dsn)
    yield backend
    backend.close()


def _listener_activity(dsn: str, pid: int) -> tuple[str, object]:
    """The state and query start of one server process, as pg_stat_activity shows it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT state, query_start FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
    assert row is not None
    return row[0], row[1]


class Waiter(threading.Thread):
    """Calls reserve with a timeout in a thread of its own; says what it got and when."""

    def __init__(self, backend: PostgresBackend, queue: str, timeout: float) -> None:
        super().__init__(daemon=True)
        self.backend, self.queue, self.timeout = backend, queue, timeout
        self.got: list[str] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.got = [r.task_id for r in self.backend.reserve(self.queue, LEASE, 1, self.timeout)]
        except BaseException as err:  # reported by the test
            self.error = err


def _listening_pids(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'alligator-listen'"
        ).fetchall()
    return [pid for (pid,) in rows]


def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_idle_reserve_sleeps_on_listen_and_wakes_for_a_push_from_another_client(
    backend: PostgresBackend, schema_dsn: str
) -> None:
    other = PostgresBackend(schema_dsn)
    waiter = Waiter(backend, "q", timeout=120.0)
    before = set(_listening_pids(schema_dsn))
    waiter.start()
    try:
        # The waiter's connection ran LISTEN and then its look (next_due); it
        # now sits idle on the socket: no query starts while it waits.
        _wait_until(lambda: set(_listening_pids(schema_dsn)) - before, 30, "the waiter to listen")
        [pid] = set(_listening_pids(schema_dsn)) - before
        _wait_until(lambda: _listener_activity(schema_dsn, pid)[0] == "idle", 30, "the waiter to idle")
        first = _listener_activity(schema_dsn, pid)
        time.sleep(1.0)
        assert _listener_activity(schema_dsn, pid) == first, "the waiter ran a query: it polls"
        assert waiter.is_alive() and waiter.got is None
        assert other.push("q", "t1", "x")
        waiter.join(60)
        assert not waiter.is_alive(), "a push did not wake the waiter"
        assert waiter.error is None and waiter.got == ["t1"]
    finally:
        other.close()


def test_a_rolled_back_transactional_push_wakes_nobody_and_a_committed_one_does(
    backend: PostgresBackend, schema_dsn: str
) -> None:
    waiter = Waiter(backend, "q", timeout=120.0)
    before = set(_listening_pids(schema_dsn))
    waiter.start()
    _wait_until(lambda: set(_listening_pids(schema_dsn)) - before, 30, "the waiter to listen")
    with psycopg.connect(schema_dsn) as conn:
        assert backend.push_in(conn, "q", [("t1", "x", 0.0)]) == 1
        conn.rollback()
        waiter.join(1.0)
        assert waiter.is_alive(), "woken by a push that was rolled back"
        assert backend.push_in(conn, "q", [("t2", "y", 0.0)]) == 1
        time.sleep(0.2)
        assert waiter.is_alive(), "woken before the commit"
        conn.commit()
    waiter.join(60)
    assert waiter.error is None and waiter.got == ["t2"]


def test_wait_for_work_wakes_when_a_delay_ends(backend: PostgresBackend) -> None:
    assert backend.push("q", "later", "x", delay=0.5)
    assert backend.wait_for_work(["other", "q"], 60.0) is True
    assert [r.task_id for r in backend.reserve("q", LEASE, 1, 60.0)] == ["later"]


def test_wait_for_work_wakes_when_a_lease_ends(backend: PostgresBackend) -> None:
    # A lease that runs out sends no NOTIFY (nothing is written): the waiter
    # must wake for its end by itself, long before its own timeout.
    assert backend.push("q", "held", "x")
    [held] = backend.reserve("q", 0.5, 1)
    started = time.monotonic()
    assert backend.wait_for_work(["other", "q"], 60.0) is True
    assert time.monotonic() - started < 30.0, "the waiter slept through the lease's end to its timeout"
    [again] = backend.reserve("q", LEASE, 1)
    assert (again.task_id, again.attempts) == ("held", 2) and again.receipt != held.receipt


class _Sleeps:
    """Stands in for the waiter's sleep on the socket: records how long it was asked to wait."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, conn: object, channel: str, names: set[str], seconds: float) -> bool:
        assert channel == "alligator_work"
        self.asked.append(seconds)
        return False  # no notification came


@pytest.mark.parametrize(
    ("lease", "delay_elsewhere", "timeout", "wait"),
    [
        (7.25, None, 60.0, 7.25),  # the lease ends first: wake then
        (7.25, 3.5, 60.0, 3.5),  # a delay in another watched queue ends first
        (90.0, None, 60.0, 60.0),  # the lease outlasts the timeout: the timeout
    ],
)
def test_an_idle_wait_is_scheduled_to_end_when_the_next_lease_or_delay_ends(
    backend: PostgresBackend,
    monkeypatch: pytest.MonkeyPatch,
    lease: float,
    delay_elsewhere: float | None,
    timeout: float,
    wait: float,
) -> None:
    # On the store's clock (injected, so no time passes): the waiter's sleep
    # is asked to end exactly when the first lease or delay of its queues
    # ends, which is when a killed worker's task becomes due again.
    now = [1_800_000_000.0]
    backend.clock = lambda: now[0]
    assert backend.push("q", "held", "x")
    assert len(backend.reserve("q", lease, 1)) == 1
    if delay_elsewhere is not None:
        assert backend.push("other", "later", "y", delay=delay_elsewhere)
    sleeps = _Sleeps()
    monkeypatch.setattr(backend, "_wait_for", sleeps)
    woken = backend.wait_for_work(["q", "other"], timeout)
    assert sleeps.asked == [pytest.approx(wait, abs=1e-6)]
    # Woken by the end of a lease or delay, it says work may be due (True);
    # at its own timeout, that nothing came (False).
    assert woken is (wait < timeout)
    # When the first of them ends, work is due: the waiter does not sleep.
    now[0] += min(lease, delay_elsewhere or lease)
    sleeps.asked.clear()
    assert backend.wait_for_work(["q", "other"], timeout) is True
    assert sleeps.asked == []


def test_wait_finished_is_woken_by_the_ack(backend: PostgresBackend, schema_dsn: str) -> None:
    assert backend.push("q", "t1", "x")
    [held] = backend.reserve("q", LEASE)
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(backend.wait_finished("q", "t1", 60.0)))
    thread.start()
    time.sleep(0.3)
    other = PostgresBackend(schema_dsn)
    try:
        from alligator.backend import Ack

        assert other.ack_results("q", [Ack("t1", held.receipt, '"done"', 60.0)]) == 1
    finally:
        other.close()
    thread.join(60)
    [finished] = found
    assert finished is not None and getattr(finished, "result", None) == '"done"'


def test_the_tables_are_created_once_and_versioned(schema_dsn: str) -> None:
    first = PostgresBackend(schema_dsn)
    second = PostgresBackend(schema_dsn)
    try:
        assert (first.created, second.created) == (True, False)
        with psycopg.connect(schema_dsn) as conn:
            row = conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone()
        assert row == (SCHEMA_VERSION,)
    finally:
        first.close()
        second.close()


def test_tables_of_a_newer_release_are_refused(backend: PostgresBackend, schema_dsn: str) -> None:
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE alligator_meta SET value = %s WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(BackendError, match="newer alligator-postgres"):
        PostgresBackend(schema_dsn)


def test_backends_starting_at_once_create_the_tables_once(postgres_dsn: str) -> None:
    dsn, schema = new_schema(postgres_dsn)
    made: list[PostgresBackend] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            made.append(PostgresBackend(dsn))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert sorted(b.created for b in made) == [False] * 5 + [True]
    finally:
        for b in made:
            b.close()
        drop_schema(postgres_dsn, schema)


def test_a_dsn_libpq_cannot_read_is_refused() -> None:
    with pytest.raises(InvalidDSNError, match="cannot read the PostgreSQL DSN"):
        PostgresBackend("postgresql://postgres@127.0.0.1/x?no_such_option=1")


def test_a_missing_database_is_a_permanent_error_that_hides_the_password() -> None:
    with pytest.raises(PermanentBackendError, match="refuses the connection") as caught:
        PostgresBackend("postgresql://postgres:s3cret@127.0.0.1/alligator_no_such_database_here")
    assert "s3cret" not in str(caught.value)


def test_a_lost_connection_is_reported_then_reconnected(backend: PostgresBackend, schema_dsn: str) -> None:
    assert backend.push("q", "t1", "x")
    with psycopg.connect(schema_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = 'alligator'"
        )
    # The pooled connection is gone: the next call says so, the one after reconnects.
    try:
        backend.len("q")
    except BackendError as err:
        assert "lost the connection" in str(err) or "PostgreSQL at" in str(err)
    assert backend.len("q") == 1
    assert [r.task_id for r in backend.reserve("q", LEASE)] == ["t1"]


def test_gator_options_connection_commits_with_the_application(schema_dsn: str) -> None:
    gator = Gator(schema_dsn, queue_name="orders")
    try:
        with psycopg.connect(schema_dsn) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
            conn.commit()
            conn.execute("INSERT INTO orders VALUES (1)")
            with gator.options(connection=conn) as opts:
                kept = opts.task(abs, -1)
            assert kept.queued is True
            assert gator.backend.status("orders", kept.task_id) is None  # not committed yet
            conn.commit()
            conn.execute("INSERT INTO orders VALUES (2)")
            with gator.batch(connection=conn) as batch:
                dropped = batch.task(abs, -2)
            conn.rollback()
        assert gator.backend.status("orders", kept.task_id) is not None
        assert gator.backend.status("orders", dropped.task_id) is None
        assert gator.len() == 1
    finally:
        gator.backend.close()


class DjangoLikeConnection:
    """What push_in meets through Django: a wrapper that opens its driver connection on demand."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connection: psycopg.Connection | None = None

    def ensure_connection(self) -> None:
        if self.connection is None:
            self.connection = psycopg.connect(self.dsn)


def test_a_django_style_connection_wrapper_is_written_through(schema_dsn: str) -> None:
    gator = Gator(schema_dsn, queue_name="django")
    wrapper = DjangoLikeConnection(schema_dsn)
    try:
        with gator.options(connection=wrapper) as opts:
            task = opts.task(abs, -3)
        assert wrapper.connection is not None
        assert gator.backend.status("django", task.task_id) is None
        wrapper.connection.commit()
        assert gator.len() == 1
    finally:
        if wrapper.connection is not None:
            wrapper.connection.close()
        gator.backend.close()


def test_a_connection_to_another_database_is_refused_with_advice(schema_dsn: str, postgres_dsn: str) -> None:
    gator = Gator(schema_dsn, queue_name="q")
    try:
        with psycopg.connect(postgres_dsn) as conn:  # the public schema: no alligator tables
            with pytest.raises(BackendError, match="roll the transaction back"):
                with gator.options(connection=conn) as opts:
                    opts.task(abs, -1)
            conn.rollback()
    finally:
        gator.backend.close()


def _finding(findings: list[tuple[str, str, str]], words: str) -> tuple[str, str, str]:
    [found] = [f for f in findings if words in f[1]]
    return found


def test_doctor_is_clean_on_a_healthy_store(backend: PostgresBackend) -> None:
    findings = backend.diagnose()
    assert [f for f in findings if f[0] != "ok"] == [], findings
    assert _finding(findings, "accepts writes")[0] == "ok"
    assert backend.task_loss_risks() == []


def test_doctor_reports_a_missing_index(backend: PostgresBackend, schema_dsn: str) -> None:
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX alligator_tasks_due")
    level, problem, advice = _finding(backend.diagnose(), "missing")
    assert level == "error" and "alligator_tasks_due" in problem and "schema.sql" in advice


def test_doctor_reports_a_transaction_holding_back_vacuum(backend: PostgresBackend, schema_dsn: str) -> None:
    from alligator_postgres import diagnosis

    with psycopg.connect(schema_dsn) as idle:
        idle.execute("SELECT 1")  # a transaction begins, and is left open
        time.sleep(1.2)
        with backend._connection() as conn:
            findings = diagnosis.diagnose(conn, backend.describe(), long_seconds=1.0)
        idle.rollback()
    level, problem, advice = _finding(findings, "holds back the vacuum")
    assert level == "warning" and "idle in transaction" in problem
    assert "idle_in_transaction_session_timeout" in advice


def test_doctor_reports_a_database_that_refuses_writes(schema_dsn: str) -> None:
    PostgresBackend(schema_dsn).close()  # the tables exist
    read_only = PostgresBackend(
        schema_dsn.replace("?options=", "?options=-cdefault_transaction_read_only%3Don%20")
    )
    try:
        level, problem, _ = _finding(read_only.diagnose(), "refuses a write")
        assert level == "error" and "read-only" in problem
    finally:
        read_only.close()


def test_doctor_reports_commits_that_are_not_durable() -> None:
    """Issue 23: what loses committed tasks, read from the server's settings."""
    from alligator_postgres import diagnosis

    [(level, problem, advice)] = diagnosis._durability({"fsync": "off", "synchronous_commit": "on"}, "pg")
    assert level == "error" and "fsync is off" in problem and "fsync = on" in advice
    [(level, problem, advice)] = diagnosis._durability({"fsync": "on", "synchronous_commit": "off"}, "pg")
    assert (
        level == "warning" and "synchronous_commit is off" in problem and "synchronous_commit = on" in advice
    )
    [(level, _, _)] = diagnosis._durability({"fsync": "on", "synchronous_commit": "on"}, "pg")
    assert level == "ok"


def test_doctor_reports_connections_near_the_servers_limit(backend: PostgresBackend) -> None:
    """Issue 23: workers that cannot connect stall; the count in use is the server's own."""
    from alligator_postgres import diagnosis

    with backend._connection() as conn:
        # A server allowing one connection besides the reserved ones: this one fills it.
        crowded = diagnosis._connections(
            conn, {"max_connections": "3", "superuser_reserved_connections": "2"}, "pg"
        )
        roomy = diagnosis._connections(conn, {"max_connections": "100000"}, "pg")
    level, problem, advice = crowded
    assert level == "warning" and "of 1 connections are in use" in problem and "max_connections" in advice
    assert roomy[0] == "ok"
