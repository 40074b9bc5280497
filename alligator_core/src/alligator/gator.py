"""The :class:`Gator`, your handle on a queue, and its :class:`Options`.

The gator is written in parts: producing, consuming, managing and pausing
here; reading results in :mod:`alligator.results`; looking into the store
(queues, counts, tasks, dead letters, workers) in :mod:`alligator.inspecting`.
:class:`Options` and :class:`Batch` live in :mod:`alligator.options`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from alligator import capabilities, limiting, loss_risks, unique
from alligator.backend import Backend, DeadLetter, Reservation
from alligator.constants import ALL
from alligator.delivery import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_RESULT_TTL,
    DEPENDENCY_POLL_SECONDS,
    DeliveryRules,
    DeliverySteps,
)
from alligator.exceptions import AlligatorException
from alligator.inspecting import Inspecting
from alligator.options import Batch, Options
from alligator.priority_store import task_priority
from alligator.registry import load_backend
from alligator.results import Results
from alligator.security import TaskPolicy
from alligator.settler import Settler
from alligator.tasks import Task, check_result_ttl
from alligator.text import printable, redact_dsn
from alligator.transactional_store import raw_connection, transactional_priority

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_RESULT_TTL",
    "DEPENDENCY_POLL_SECONDS",
    "AlligatorException",
    "Batch",
    "Gator",
    "Options",
]


class Gator(Results, Inspecting):
    """Puts tasks on a queue, and takes them off to run them.

    Example:
        >>> gator = Gator("locmem://example-gator", allow=["builtins"])
        >>> task = gator.task(pow, 2, 8)
        >>> gator.pop().result
        256

    Args:
        conn_string: The DSN of the queue store: ``"sqlite:///tasks.db"``,
            ``"redis://localhost:6379/0"``, ``"locmem://"``. Its scheme picks
            the installed backend.
        queue_name: Which queue of that store this gator uses.
        task_class: The :class:`~alligator.tasks.Task` class tasks are built with.
        backend_class: Use this backend class instead of looking the scheme up.
        allow: Modules whose functions workers of this gator may run
            (``["myapp"]`` allows ``myapp.tasks`` too; ``"module:function"``
            allows one function). Added to ``ALLIGATOR_ALLOW``. When set, a
            task or hook of any other module is refused at enqueue too.
        secret: An HMAC key, or several (the first signs, all verify), to sign
            payloads and refuse unsigned ones. Default: ``ALLIGATOR_SECRET``.
        max_payload_bytes: The largest payload, 256 KiB by default; a task's
            stored return value has the same limit.
        result_ttl: Seconds the store keeps the return value of a task this
            gator queues, unless the task says otherwise
            (``gator.options(result_ttl=...)``): an hour by default, at most
            30 days. A value other than the default travels with each task;
            a worker applies its own gator's value to tasks that carry none.
        allow_eviction: Accept a store that may evict queued tasks (Redis
            with an ``allkeys-*`` ``maxmemory-policy``). Without it, the
            first task on such a store raises
            :class:`~alligator.exceptions.EvictingStoreError` and nothing is
            queued; with it, a :class:`~alligator.exceptions.TaskLossWarning`
            says so once. See :mod:`alligator.loss_risks`.
    """

    def __init__(
        self,
        conn_string: str,
        queue_name: str = ALL,
        task_class: type[Task] = Task,
        backend_class: type[Backend] | None = None,
        allow: str | list[str] | tuple[str, ...] | None = None,
        secret: str | list[str] | tuple[str, ...] | None = None,
        max_payload_bytes: int | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
        allow_eviction: bool = False,
    ) -> None:
        if not isinstance(queue_name, str) or not queue_name:
            raise ValueError(f"queue_name must be a non-empty string, not {queue_name!r}")
        ttl = check_result_ttl(result_ttl)
        if ttl is None:
            raise TypeError("a Gator's result_ttl must be a number of seconds (from 0 to 30 days), not None")
        #: Seconds a return value is kept when the task does not say.
        self.result_ttl = ttl
        self.conn_string = conn_string
        #: Whether this gator enqueues on a store that may evict queued tasks.
        self.allow_eviction = allow_eviction
        self.queue_name = queue_name
        self.task_class = task_class
        self.backend_class = backend_class
        self.policy = TaskPolicy.build(allow, secret, max_payload_bytes)
        self.backend = self.build_backend(conn_string)
        # The backend refuses to hand out longer payloads (dead-lettering them
        # unread), so a worker's memory stays bounded by the same limit.
        self.backend.max_payload_bytes = self.policy.max_payload_bytes
        # (forget() count, backend, allow_eviction) of the last enqueue that
        # passed loss_risks.check_enqueue with nothing left to say: until one
        # of them changes, pushing does not check again.
        self._risks_checked: tuple[int, Backend, bool] | None = None

    def __repr__(self) -> str:
        # A DSN may carry a password; a repr ends up in logs and tracebacks.
        return f"<Gator {redact_dsn(self.conn_string)!r} queue={printable(self.queue_name)!r}>"

    def build_backend(self, conn_string: str) -> Backend:
        """Builds the backend a DSN names.

        Example:
            >>> backend = Gator("locmem://example-build-backend").build_backend("locmem://")

        Args:
            conn_string: The DSN.

        Returns:
            The backend instance.

        Raises:
            UnknownBackendError: No installed backend handles its scheme.
        """
        return load_backend(conn_string, self.backend_class)

    # -- producing -------------------------------------------------------

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Queues a call of ``func`` with these arguments, and returns at once.

        Example:
            >>> gator = Gator("locmem://example-task")
            >>> task = gator.task(max, 3, 7)

        Args:
            func: An importable function.
            *args: Its positional arguments (JSON values).
            **kwargs: Its keyword arguments (JSON values).

        Returns:
            The :class:`~alligator.tasks.Task`; its ``task_id`` names it. Its
            ``queued`` says whether this call queued it: False when a task of
            the same id (``gator.options(task_id=...)``) was already in the
            queue (waiting, delayed, running, or a dead letter), or another
            task holds its unique key (``gator.options(unique_for=...)``;
            its ``held_by`` then names that task). Then nothing was queued,
            and the returned task's arguments are not the ones that will run.

        Raises:
            NotSerializableError: An argument JSON cannot carry; nothing is
                queued.
            TaskArgumentsError: The arguments do not fit the function's
                signature; nothing is queued.
            NotImportableError: A worker could not import the function by
                name (a lambda, a bound method...); nothing is queued.
            TaskRefused: This gator has an allow list, and it does not allow
                the function or a hook; nothing is queued.
        """
        # The defaults, without checking them again (see Task._with_defaults).
        cls = self.task_class
        return self.push(getattr(cls, "_with_defaults", cls)(), func, *args, **kwargs)

    def options(self, **kwargs: Any) -> Options:
        """Returns a context manager that queues tasks with these options.

        Example:
            >>> gator = Gator("locmem://example-options")
            >>> with gator.options(retries=3, delay_by=60) as opts:
            ...     task = opts.task(max, 3, 7)

        Args:
            **kwargs: Any argument of :class:`~alligator.tasks.Task` (``retries``,
                ``is_async``, ``on_error``, ``depends_on``, ``delay_by``,
                ``time_limit``, ``result_ttl``, ``store_result``,
                ``unique_for``, ``unique_key``, ``unique_mode``,
                ``priority``...). A misspelt name or a bad value is refused
                here. ``priority`` (-100 to 100, 0 by default) orders the
                due tasks of the queue, higher first; a store without the
                :class:`~alligator.priority_store.TaskPriority` capability
                refuses a priority other than 0 when the task is queued.
                And ``connection``: a database connection of the
                application's (psycopg, ``sqlite3``, Django's
                ``django.db.connection``) to write the tasks through,
                inside its open transaction, so they exist exactly when it
                commits (the store must claim
                :class:`~alligator.transactional_store.TransactionalEnqueue`:
                PostgreSQL and SQLite do; and, for a unique task or one
                with a priority, ``TransactionalUnique`` or
                ``TransactionalPriority`` of the same module).

        Returns:
            An :class:`Options`.
        """
        return Options(self, **kwargs)

    def batch(self, **kwargs: Any) -> Batch:
        """Returns a context manager that queues many tasks in one call at its end.

        Much faster than one :meth:`task` per call when there are many.

        Example:
            >>> gator = Gator("locmem://example-batch")
            >>> with gator.batch() as batch:
            ...     for n in range(3):
            ...         _ = batch.task(abs, -n)
            >>> gator.len()
            3

        Args:
            **kwargs: Options for every task, as for :meth:`options`.

        Returns:
            A :class:`Batch`.
        """
        return Batch(self, **kwargs)

    def push(self, task: Task, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Queues a task built by hand; with ``is_async=False`` runs it now instead.

        Example:
            >>> gator = Gator("locmem://example-push")
            >>> done = gator.push(Task(is_async=False), pow, 3, 2)
            >>> done.result
            9

        Args:
            task: A configured task.
            func: An importable function.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.

        Returns:
            The task (already run, for ``is_async=False``). Its ``queued`` is
            True if this call queued it, False if the id was already in the
            queue (nothing was queued) or it ran in-process.
        """
        return self._push(task, None, func, *args, **kwargs)

    def _push(
        self, task: Task, connection: object, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Task:
        """:meth:`push`, written through the caller's ``connection`` when it is not None."""
        task.to_call(func, *args, **kwargs)
        task._gator = self
        if not task.is_async:
            task.queued = False
            return self.execute(task)
        backend = self.backend
        checked = (loss_risks.generation(), backend, self.allow_eviction)
        if checked != self._risks_checked and loss_risks.check_enqueue(backend, self.allow_eviction):
            self._risks_checked = checked
        delay = self._delay_of(task) if task.delay_by or task.delay_until is not None else 0.0
        if task.unique_for is not None:
            unique.push(backend, self.queue_name, task, self._seal(task), delay, connection)
            return task
        if connection is not None:
            raw = raw_connection(connection)
            if task.priority:
                ranked = (task.task_id, self._seal(task), delay, task.priority)
                pushed = transactional_priority(backend).push_prioritized_in(raw, self.queue_name, [ranked])
            else:
                item = (task.task_id, self._seal(task), delay)
                pushed = capabilities.transactional(backend).push_in(raw, self.queue_name, [item])
            task.queued = pushed == 1
            return task
        if task.priority:
            # Only a task with a priority takes the capability's way; the usual one stays on push.
            ranked = (task.task_id, self._seal(task), delay, task.priority)
            task.queued = task_priority(backend).push_prioritized(self.queue_name, [ranked]) == 1
            return task
        task.queued = backend.push(self.queue_name, task.task_id, self._seal(task), delay)
        return task

    def _seal(self, task: Task) -> str:
        if task.result_ttl is None and self.result_ttl != DEFAULT_RESULT_TTL:
            # This gator's choice travels with the task, so the worker (often
            # a plain `latergator`, with the default) keeps the result that long.
            task.result_ttl = self.result_ttl
        if task.rate_limit is not None or task.concurrency_limit is not None:
            # A limit the store cannot keep would be a limit nobody enforces.
            capabilities.limiting(self.backend)
        if self.policy.allow:
            # Fail in the producer, at once, rather than in a worker later.
            assert task.module is not None and task.callable is not None
            self.policy.check_task(task.module, task.callable, task.hooks())
        return self.policy.seal(task.serialize())

    def _delay_of(self, task: Task, now: float | None = None) -> float:
        if task.delay_by:
            return task.delay_by
        if task.delay_until is not None:
            # Measured against the backend's clock, not this process's.
            return task.delay_until - (self.backend.now() if now is None else now)
        return 0.0

    # -- consuming -------------------------------------------------------

    def execute(self, task: Task) -> Task:
        """Runs a task in this process now, retrying as it allows, after the worker's backoff.

        ``task.attempts`` counts the runs, 1 on the first, as a worker counts
        deliveries, so an ``on_error`` hook can tell the last failure
        (``task.attempts > task.retries``) from earlier ones. Between runs it
        sleeps as long as a worker would wait before the retry
        (:meth:`Task.retry_after <alligator.tasks.Task.retry_after>`: one
        rule for both). Only an ``Exception`` is retried: anything else
        (``KeyboardInterrupt``, ``SystemExit``...) is for this process, and
        goes straight up.

        Example:
            >>> task = Task(is_async=False, retries=5)
            >>> task.to_call(divmod, 101, 35)
            >>> Gator("locmem://example-execute").execute(task).result
            (2, 31)

        Args:
            task: The task to run.

        Returns:
            The completed task.

        Raises:
            Exception: Whatever the function raised on its last try.
        """
        attempt = 0
        while True:
            attempt += 1
            task.attempts = attempt
            try:
                task.run()
                return task
            except Exception:
                delay = task.retry_after(attempt)
                if delay is None:
                    raise
                task.to_retrying()
            time.sleep(delay)

    def pop(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Task | None:
        """Takes the task at the front of the queue and runs it.

        The task is reserved, not removed, until it finished: if this process
        dies meanwhile, the task goes back to the queue when the lease ends.
        A failure does not raise here: the task is retried later or
        dead-lettered, and its ``status`` and ``exception`` say which.

        Example:
            >>> gator = Gator("locmem://example-pop", allow=["builtins"])
            >>> _ = gator.task(sum, [1, 2, 3])
            >>> gator.pop().result
            6

        Returns:
            The task as it ended, or None if no task is due.
        """
        reservations = self.backend.reserve(self.queue_name, lease_seconds, 1)
        return self._process_held(reservations[0], lease_seconds) if reservations else None

    def get(self, task_id: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Task | None:
        """Takes one named task off the queue, ahead of its turn, and runs it.

        Example:
            >>> gator = Gator("locmem://example-get", allow=["builtins"])
            >>> task = gator.task(len, "abc")
            >>> gator.get(task.task_id).result
            3

        Args:
            task_id: The id of a waiting or delayed task.

        Returns:
            The task as it ended, or None if no such task is waiting.
        """
        reservation = self.backend.get(self.queue_name, task_id, lease_seconds)
        return self._process_held(reservation, lease_seconds) if reservation else None

    def _process_held(self, reservation: Reservation, lease_seconds: float) -> Task | None:
        # The settler renews the lease while the task runs here, and drops it
        # once the delivery is settled (or left to end, should this fail).
        with Settler(self.backend, lease_seconds) as settler:
            settler.hold(self.queue_name, reservation)
            return self._settle_one(reservation, settler)

    def process(self, reservation: Reservation) -> Task | None:
        """Runs one delivery and settles it: ack, retry later, or dead letter.

        It never raises for a bad task (see :mod:`alligator.delivery` for the
        steps): an unreadable or refused payload, an unknown module or
        function, one whose import raises, arguments that do not fit, a task
        delivered more than ``max_deliveries`` times without finishing, or a
        failed dependency is dead-lettered with the reason; a task that
        raises anything, ``BaseException`` included, is released with a
        backoff while it has retries left, then dead-lettered with its
        traceback. A ``KeyboardInterrupt`` the task raised is re-raised
        here once the delivery is settled, so Ctrl-C still stops a script.

        The delivery's verdict is applied at once by a
        :class:`~alligator.settler.Settler`, as a worker's is (batched).

        Args:
            reservation: The delivery, from
                :meth:`Backend.reserve <alligator.backend.Backend.reserve>`.

        Returns:
            The task as it ended, or None when its payload was unreadable.
        """
        return self._settle_one(reservation, Settler(self.backend))

    def _settle_one(self, reservation: Reservation, settler: Settler) -> Task | None:
        delivery = self._steps().handle(reservation)
        settler.settle(delivery)
        if delivery.interrupted is not None:
            raise delivery.interrupted
        return delivery.task

    def _steps(self, queue: str | None = None, policy: TaskPolicy | None = None) -> DeliverySteps:
        rules = DeliveryRules(policy or self.policy, DEFAULT_MAX_DELIVERIES, self.task_class, self.result_ttl)
        return DeliverySteps(self.backend, queue or self.queue_name, rules)

    # -- managing --------------------------------------------------------

    def len(self) -> int:
        """Returns how many tasks are waiting or delayed in this gator's queue."""
        return self.backend.len(self.queue_name)

    def cancel(self, task_id: str) -> bool:
        """Removes a waiting or delayed task so it never runs.

        Returns:
            True if removed; False if a worker already has it, it finished,
            or the id is unknown.
        """
        return self.backend.cancel(self.queue_name, task_id)

    def status(self, task_id: str) -> int | None:
        """Returns a task's state (a constant from :mod:`alligator.constants`) or None."""
        return self.backend.status(self.queue_name, task_id)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Lists the queue's dead letters, oldest first, each with its reason.

        A reason is shown without the signature a worker with a secret adds
        to it; it is not checked here (:meth:`result` checks it).
        """
        return self.admin.dead_letters(self.queue_name, limit)

    def requeue(self, task_id: str) -> bool:
        """Puts a dead letter back at the end of the queue, its deliveries reset.

        Returns:
            True if requeued; False if there is no such dead letter.
        """
        return self.admin.requeue(self.queue_name, task_id)

    def drop_all(self) -> None:
        """Deletes everything in this gator's queue, dead letters included."""
        self.admin.drop(self.queue_name)

    # -- pausing ---------------------------------------------------------

    def pause(self, queue: str | None = None, function: Callable[..., Any] | str | None = None) -> bool:
        """Pauses a queue or a function for every worker of the store, until :meth:`resume`.

        Workers see it within about a second. They reserve nothing from a
        paused queue: its tasks stay waiting, in their place in line. A task
        of a paused function (in any queue) is handed back unstarted,
        without counting an attempt, and is due again every few seconds
        until the function is resumed. Tasks already running finish.

        Example:
            >>> gator = Gator("locmem://doc-pause", allow=["builtins"])
            >>> gator.pause()
            True
            >>> gator.pause(function=abs), gator.paused()
            (True, [('function', 'builtins:abs'), ('queue', 'all')])

        Args:
            queue: The queue to pause; this gator's own when neither
                argument is given.
            function: The function to pause: a callable, or
                ``"module:name"`` as ``alligator pause --function`` takes it.

        Returns:
            True if it was not paused yet.

        Raises:
            ValueError: Both ``queue`` and ``function`` given, or a name a
                store cannot keep (see :func:`alligator.pausing.check_target`).
            NotImplementedError: The store cannot pause (see
                :class:`~alligator.capabilities.Pausing`).
        """
        return self.admin.set_paused(*self._pause_target(queue, function), True)

    def resume(self, queue: str | None = None, function: Callable[..., Any] | str | None = None) -> bool:
        """Resumes what :meth:`pause` paused; takes the same arguments.

        Workers see it within about a second; a resumed function's tasks run
        again within a few seconds more (they were set aside for that long).

        Returns:
            True if it was paused.
        """
        return self.admin.set_paused(*self._pause_target(queue, function), False)

    def paused(self) -> list[tuple[str, str]]:
        """Lists what is paused in this gator's store, as ``(kind, name)`` sorted.

        ``kind`` is ``"queue"`` or ``"function"``; a function's name is
        ``"module:name"``.

        Raises:
            Unsupported: The store cannot pause (a ``NotImplementedError``).
        """
        return self.admin.paused()

    # -- limits ----------------------------------------------------------

    @contextlib.contextmanager
    def limit(self, key: str, rate: str, timeout: float | None = None) -> Iterator[None]:
        """Waits until ``key`` may be taken once more at ``rate``, for every worker of the store.

        For a rate limit around part of a task, as Dramatiq's and Sidekiq's
        limiters are used: the same shared state as a task's ``rate_limit``
        (a block and a task limited on the same key count together). The
        wait is a sleep until the slot the store booked for this block, not
        a poll.

        Example:
            >>> gator = Gator("locmem://doc-limit")
            >>> with gator.limit("github", rate="5000/h"):
            ...     pass  # call the API here

        Args:
            key: The limit key (at most 256 bytes).
            rate: ``"N/s"``, ``"N/m"`` or ``"N/h"``.
            timeout: The longest to wait, in seconds; None waits as long as
                it takes.

        Raises:
            ValueError: A bad key or rate; the message names the accepted forms.
            TimeoutError: The wait would end past ``timeout``.
            Unsupported: The store cannot keep limits.
        """
        with limiting.limit(self.backend, key, rate, timeout):
            yield

    def _pause_target(self, queue: str | None, function: Callable[..., Any] | str | None) -> tuple[str, str]:
        from alligator.pausing import target

        if queue is None and function is None:
            queue = self.queue_name
        return target(queue, function)
