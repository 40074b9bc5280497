"""``AlligatorBackend``: Alligator as a ``TASKS`` backend of Django's tasks framework.

Example settings::

    TASKS = {
        "default": {
            "BACKEND": "alligator_django.AlligatorBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {"DSN": "sqlite:////srv/mysite/tasks.db"},
        }
    }

Each Django queue is the Alligator queue of the same name. A task travels as
a call of :func:`alligator_django.running.run` with the task's dotted path
and arguments; ``python manage.py latergator`` runs it.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from typing import Any

from django.db import connections, transaction
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskResult, TaskResultStatus
from django.tasks.signals import task_enqueued

from alligator.gator import Gator
from alligator.unique_store import default_key
from alligator_django import reading, records
from alligator_django.settings import BackendOptions, read_options

#: The one module an Alligator worker runs for Django: it checks the task itself.
RUNNER = "alligator_django.running"
#: The extra ``@task`` arguments taken, each an option of ``Gator.options``.
ALLIGATOR_OPTIONS = (
    "retries",
    "retry_delay",
    "retry_backoff",
    "retry_max_delay",
    "retry_jitter",
    "time_limit",
    "result_ttl",
    "unique_for",
    "unique_key",
    "unique_mode",
    "rate_limit",
    "limit_key",
    "concurrency_limit",
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlligatorTask(Task):
    """A Django task with Alligator's own options, given as extra ``@task`` arguments (Django 6.1).

    Example::

        @task(retries=3, retry_delay=5, time_limit=60)
        def send_report(user_id): ...

    Each is :meth:`Gator.options <alligator.gator.Gator.options>`'s option of
    the same name, passed on only when given (None: the backend's default).

    Attributes:
        retries: Tries after the first when the function raises.
        retry_delay: Seconds before the first retry.
        retry_backoff: Growth factor of the wait per retry.
        retry_max_delay: The longest wait between retries.
        retry_jitter: Randomize each wait within its upper half.
        time_limit: Seconds one attempt may run.
        result_ttl: Seconds the result is kept.
        unique_for, unique_key, unique_mode: Unique tasks; the key is the
            task and its arguments unless given.
        rate_limit, limit_key, concurrency_limit: Rate and concurrency
            limits; the key is the task unless given.
    """

    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    retry_max_delay: float | None = None
    retry_jitter: bool | None = None
    time_limit: float | None = None
    result_ttl: float | None = None
    unique_for: float | None = None
    unique_key: str | None = None
    unique_mode: str | None = None
    rate_limit: str | None = None
    limit_key: str | None = None
    concurrency_limit: int | None = None

    def alligator_options(self) -> dict[str, Any]:
        """The options given, as :meth:`Gator.options <alligator.gator.Gator.options>` names them."""
        return {name: getattr(self, name) for name in ALLIGATOR_OPTIONS if getattr(self, name) is not None}


class AlligatorBackend(BaseTaskBackend):
    """Django tasks in an Alligator store (SQLite, Redis, PostgreSQL); ``manage.py latergator`` runs them."""

    task_class = AlligatorTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        #: The OPTIONS, read and checked.
        self.settings: BackendOptions = read_options(alias, self.options)
        self._gators: dict[str, Gator] = {}
        self._lock = threading.Lock()
        # Results of tasks run in-process (IS_ASYNC False), as Django's DummyBackend keeps them.
        self._immediate: dict[str, TaskResult] = {}
        # Per thread (as Django's connections are): the results written in its open transactions.
        self._written = threading.local()

    def gator(self, queue: str) -> Gator:
        """The :class:`~alligator.gator.Gator` of one queue (made once per backend)."""
        with self._lock:
            gator = self._gators.get(queue)
            if gator is None:
                gator = Gator(
                    self.settings.dsn,
                    queue_name=queue,
                    allow=[RUNNER],
                    secret=self.settings.secret,
                    max_payload_bytes=self.settings.max_payload_bytes,
                    result_ttl=self.settings.result_ttl,
                )
                self._gators[queue] = gator
            return gator

    def queue_names(self) -> list[str]:
        """The queues a worker consumes by default: ``QUEUES`` as given, or ``["default"]``."""
        queues = self.params_queues or ["default"]
        return list(dict.fromkeys(queues))

    @property
    def params_queues(self) -> list[str]:
        """``QUEUES`` in the order the settings list them (Django keeps a set)."""
        from django.conf import settings

        listed = settings.TASKS.get(self.alias, {}).get("QUEUES")
        return list(listed) if listed else sorted(self.queues)

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Sends the task to the store: inside ``transaction.atomic()``, through Django's connection
        in its transaction (with ``DATABASE``), or once the transaction commits (``ENQUEUE_ON_COMMIT``).

        Returns:
            Its ``TaskResult``, READY; its id works in any process.
        """
        self.validate_task(task)
        result_id = records.new_result_id(task.queue_name)
        result = reading.build_result(
            task, result_id, TaskResultStatus.READY, list(args), dict(kwargs), records.RunRecord()
        )
        if not self.settings.is_async:
            return self._run_here(result)
        options = self.task_options(task, result_id, list(args), dict(kwargs))
        call = self.call_of(task, result.args, result.kwargs)
        gator = self.gator(task.queue_name)
        database = self.settings.database
        if database is not None:
            if transaction.get_connection(database).in_atomic_block:
                return self._enqueue_in_transaction(task, database, options, call, result)
            # No transaction of that database is open on this thread: none of its writes is pending.
            self._written_in(database).clear()
        # Checked now (arguments JSON cannot carry, a misspelt option), so a
        # mistake raises here and not in an on_commit callback.
        opts = gator.options(**options)

        def send() -> str | None:
            sent = opts.task(_runner(), *call)
            if sent.queued is False and sent.held_by:
                return sent.held_by  # a unique task whose key another holds: nothing was queued
            task_enqueued.send(type(self), task_result=result)
            return None

        if self.settings.enqueue_on_commit and transaction.get_connection().in_atomic_block:
            # Sent when the outermost transaction commits; never if it rolls back.
            transaction.on_commit(send)
            return result
        held_by = send()
        # The task holding the key is the one that runs: its result is the caller's.
        return self.get_result(held_by) if held_by else result

    def _enqueue_in_transaction(
        self, task: Task, database: str, options: dict[str, Any], call: tuple[Any, ...], result: TaskResult
    ) -> TaskResult:
        """Writes the task through Django's connection ``database``, inside its open transaction.

        The task then exists exactly when that transaction commits: rolled
        back, or the process killed first, it never existed (no on_commit
        callback to lose). Its priority and its unique key's claim are written
        in the same transaction. ``task_enqueued`` is sent once it commits.

        Returns:
            ``result``; or, for a unique task whose key another task holds,
            that task's result (nothing is written, no ``task_enqueued``).

        Raises:
            Unsupported: The store cannot take a unique key, or a priority,
                in the caller's transaction (the core's refusal, naming the
                store; nothing is written).
            ValueError: The connection is not to the store's database.
            TypeError: The store cannot write through that connection.
        """
        written = self._written_in(database)
        with self.gator(task.queue_name).options(connection=connections[database], **options) as opts:
            sent = opts.task(_runner(), *call)
        if sent.queued is False and sent.held_by:
            # A holder written earlier in this same transaction is not visible
            # to the store's own connection until the commit: its result is the
            # one that enqueue() returned then.
            holder = written.get(sent.held_by)
            return holder if holder is not None else self.get_result(sent.held_by)
        written[result.id] = result

        def committed() -> None:
            # After the outermost commit nothing of this thread's is pending
            # any more (what a rollback dropped stays dropped).
            written.clear()
            task_enqueued.send(type(self), task_result=result)

        transaction.on_commit(committed, using=database, robust=True)
        return result

    def _written_in(self, database: str) -> dict[str, TaskResult]:
        """This thread's results written in the open transaction of ``database``, by id.

        Only a unique task's holder is looked up here; an entry left by a
        rolled-back transaction is never named as one (its claim went with
        it), and is dropped at the next commit or enqueue outside a transaction.
        """
        per_database: dict[str, dict[str, TaskResult]] | None = getattr(self._written, "by_database", None)
        if per_database is None:
            per_database = self._written.by_database = {}
        return per_database.setdefault(database, {})

    def call_of(self, task: Task, args: list[Any], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The arguments of :func:`alligator_django.running.run` that carry ``task`` and its call."""
        return (reading.task_meta(task, self.alias), args, kwargs)

    def task_options(
        self, task: Task, result_id: str, args: list[Any], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        """The :meth:`Gator.options <alligator.gator.Gator.options>` every run of ``task`` is queued with.

        The backend's defaults, the task's own ``@task`` options, its id, the
        runner's start hook, its priority and ``run_after``; also what a
        schedule's tick is built with (:mod:`alligator_django.scheduling`).
        """
        options: dict[str, Any] = dict(self.settings.task_options)
        if isinstance(task, AlligatorTask):
            options.update(task.alligator_options())
        # Every Django task travels as the one runner function, whose name the
        # core's default keys would share: key by the Django task instead.
        module, _, name = task.module_path.rpartition(".")
        if "unique_for" in options and "unique_key" not in options:
            options["unique_key"] = default_key(module, name, args, kwargs)
        if ("rate_limit" in options or "concurrency_limit" in options) and "limit_key" not in options:
            options["limit_key"] = task.module_path
        options["task_id"] = result_id
        options["on_start"] = f"{RUNNER}:started"
        # Called where a task whose own process died is settled (a time limit's kill, its workers dying).
        options["on_killed"] = f"{RUNNER}:killed"
        if task.priority:
            # Given only when set: stores that order by priority take it.
            options["priority"] = task.priority
        run_after = task.run_after
        if isinstance(run_after, datetime.datetime):
            options["delay_until"] = run_after
        elif isinstance(run_after, datetime.timedelta):
            options["delay_by"] = max(0.0, run_after.total_seconds())
        return options

    def _run_here(self, result: TaskResult) -> TaskResult:
        from alligator_django import running

        task_enqueued.send(type(self), task_result=result)
        ran = running.run_in_process(self, result)
        self._immediate[ran.id] = ran
        return ran

    def get_result(self, result_id: str) -> TaskResult:
        """The task's result as the store has it now, from any process.

        Raises:
            TaskResultDoesNotExist: The id is unknown (never sent, rolled
                back, or expired).
        """
        if result_id in self._immediate:
            return self._immediate[result_id]
        return reading.load_result(self, result_id)

    def check(self, **kwargs: Any) -> list[Any]:
        """Django's checks of this backend (see :mod:`alligator_django.checks`)."""
        from alligator_django.checks import check_backend

        return check_backend(self)

    def close(self) -> None:
        """Closes the stores' connections."""
        with self._lock:
            gators, self._gators = list(self._gators.values()), {}
        for gator in gators:
            gator.backend.close()


def _runner() -> Any:
    from alligator_django.running import run

    return run
