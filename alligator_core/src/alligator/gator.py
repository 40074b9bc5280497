"""The :class:`Gator`, your handle on a queue, and its :class:`Options`."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any

from alligator import loss_risks, presence
from alligator import payload as _payload
from alligator.backend import Backend, DeadLetter, Finished, QueueCounts, Reservation, TaskInfo
from alligator.constants import ALL, FAILED, STATUS_NAMES, SUCCESS
from alligator.delivery import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_RESULT_TTL,
    DEPENDENCY_POLL_SECONDS,
    DeliveryRules,
    DeliverySteps,
)
from alligator.exceptions import (
    AlligatorException,
    InvalidPayloadError,
    ResultTimeout,
    TaskFailed,
    TaskNotFound,
)
from alligator.leases import LeaseKeeper
from alligator.presence import WorkerInfo
from alligator.registry import load_backend
from alligator.security import TaskPolicy, without_signatures
from alligator.tasks import Task, check_result_ttl, check_task_id
from alligator.text import printable, redact_dsn, unknown_names

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


class Gator:
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
            queue (waiting, delayed, running, or a dead letter). Then
            nothing was queued, and the returned task's arguments are not
            the ones that will run.

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
        return self.push(self.task_class(), func, *args, **kwargs)

    def options(self, **kwargs: Any) -> Options:
        """Returns a context manager that queues tasks with these options.

        Example:
            >>> gator = Gator("locmem://example-options")
            >>> with gator.options(retries=3, delay_by=60) as opts:
            ...     task = opts.task(max, 3, 7)

        Args:
            **kwargs: Any argument of :class:`~alligator.tasks.Task` (``retries``,
                ``is_async``, ``on_error``, ``depends_on``, ``delay_by``,
                ``time_limit``, ``result_ttl``, ``store_result``...). A
                misspelt name or a bad value is refused here.

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
        task.to_call(func, *args, **kwargs)
        task._gator = self
        if not task.is_async:
            task.queued = False
            return self.execute(task)
        loss_risks.check_enqueue(self.backend, self.allow_eviction)
        task.queued = self.backend.push(self.queue_name, task.task_id, self._seal(task), self._delay_of(task))
        return task

    def _seal(self, task: Task) -> str:
        if task.result_ttl is None and self.result_ttl != DEFAULT_RESULT_TTL:
            # This gator's choice travels with the task, so the worker (often
            # a plain `latergator`, with the default) keeps the result that long.
            task.result_ttl = self.result_ttl
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
        """Runs a task in this process now, retrying at once as it allows.

        ``task.attempts`` counts the runs, 1 on the first, as a worker counts
        deliveries, so an ``on_error`` hook can tell the last failure
        (``task.attempts > task.retries``) from earlier ones. Only an
        ``Exception`` is retried: anything else (``KeyboardInterrupt``,
        ``SystemExit``...) is for this process, and goes straight up.

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
        for attempt in range(1, task.retries + 2):
            task.attempts = attempt
            try:
                task.run()
                return task
            except Exception:
                if attempt > task.retries:
                    raise
                task.to_retrying()
        return task  # pragma: no cover - the loop always returns or raises

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
        with LeaseKeeper(self.backend, self.queue_name, lease_seconds) as keeper:
            keeper.hold(reservation)
            return self.process(reservation)

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

        Args:
            reservation: The delivery, from
                :meth:`Backend.reserve <alligator.backend.Backend.reserve>`.

        Returns:
            The task as it ended, or None when its payload was unreadable.
        """
        delivery = self._steps().handle(reservation)
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
        return [without_signatures(letter) for letter in self.backend.dead_letters(self.queue_name, limit)]

    def requeue(self, task_id: str) -> bool:
        """Puts a dead letter back at the end of the queue, its deliveries reset.

        Returns:
            True if requeued; False if there is no such dead letter.
        """
        return self.backend.requeue(self.queue_name, task_id)

    def drop_all(self) -> None:
        """Deletes everything in this gator's queue, dead letters included."""
        self.backend.drop_all(self.queue_name)

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
                :attr:`Backend.supports_pause <alligator.backend.Backend.supports_pause>`).
        """
        return self.backend.set_paused(*self._pause_target(queue, function), True)

    def resume(self, queue: str | None = None, function: Callable[..., Any] | str | None = None) -> bool:
        """Resumes what :meth:`pause` paused; takes the same arguments.

        Workers see it within about a second; a resumed function's tasks run
        again within a few seconds more (they were set aside for that long).

        Returns:
            True if it was paused.
        """
        return self.backend.set_paused(*self._pause_target(queue, function), False)

    def paused(self) -> list[tuple[str, str]]:
        """Lists what is paused in this gator's store, as ``(kind, name)`` sorted.

        ``kind`` is ``"queue"`` or ``"function"``; a function's name is
        ``"module:name"``.

        Raises:
            NotImplementedError: The store cannot pause.
        """
        return self.backend.paused()

    def _pause_target(self, queue: str | None, function: Callable[..., Any] | str | None) -> tuple[str, str]:
        from alligator.pausing import target

        if queue is None and function is None:
            queue = self.queue_name
        return target(queue, function)

    # -- results ---------------------------------------------------------

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Returns a finished task's stored return value, waiting for it if asked to.

        A worker stores what the function returned, as JSON (a tuple, a
        datetime or a Decimal tagged as in arguments: see
        :mod:`alligator.values`), in the same step as it acknowledges the
        task, and the store keeps it for the task's ``result_ttl`` (this
        gator's by default: an hour).

        Example:
            >>> gator = Gator("locmem://example-result", allow=["builtins"])
            >>> task = gator.task(divmod, 17, 5)
            >>> done = gator.pop()  # a worker would do this, in another process
            >>> gator.result(task.task_id)
            (3, 2)

        Args:
            task_id: The task's id (``task.task_id``).
            timeout: Seconds to wait for a task still waiting, delayed or
                running. None or 0 looks once, without waiting. Stores that
                can (Redis, locmem) wake the caller as the task finishes;
                others look again every quarter of a second at most.

        Returns:
            The return value decoded from JSON: tuples come back as lists,
            and dict keys as strings. None when the task succeeded but no
            value was kept: it was queued with ``store_result=False``, its
            result outlived its ``result_ttl``, or the store keeps no results
            (its backend's ``stores_results`` is False).

        Raises:
            TaskFailed: The task failed for good (it is a dead letter); the
                message and ``.reason`` are the dead letter's reason.
            ResultTimeout: It is still waiting, delayed or running after
                ``timeout`` (at once without one). Also a ``TimeoutError``.
            TaskNotFound: The store does not know the id in this gator's
                queue: never queued there, cancelled, or finished so long ago
                that neither its result nor its status is remembered.
            InvalidPayloadError: A result is stored but cannot be read (not
                JSON, too large, not UTF-8: written by something else).
            ResultSignatureError: This gator signs (it has a secret), and the
                stored result or failure reason is unsigned or not signed
                for this task and queue by one of its keys: forged by a
                writer to the store, or left by a worker without the secret.
                Nothing stored is handed out. Also an ``InvalidPayloadError``.
            ValueError: ``task_id`` cannot be a task's id, or ``timeout`` is
                negative or not finite.
        """
        check_task_id(task_id)
        wait = _check_timeout(timeout)
        queue = self.queue_name
        found = self.backend.finished(queue, task_id)
        if found is None:
            status = self.backend.status(queue, task_id)
            if status not in (SUCCESS, FAILED, None) and wait > 0:
                found = self.backend.wait_finished(queue, task_id, wait)
                if found is None:
                    status = self.backend.status(queue, task_id)
            if found is None and status in (SUCCESS, FAILED):
                # It finished between two looks: read what it left.
                found = self.backend.finished(queue, task_id)
            if found is None:
                if status is None:
                    raise TaskNotFound(_not_found(task_id, queue))
                if status == SUCCESS:
                    return None  # no result kept (any more)
                if status == FAILED:
                    raise TaskFailed(
                        "it failed; its dead letter, and its reason, are no longer kept", task_id
                    )
                state = STATUS_NAMES.get(status, str(status))
                waited = f" after {wait:g}s" if wait > 0 else ""
                raise ResultTimeout(
                    f"task {printable(task_id)} has not finished{waited}: it is {state}; "
                    "wait longer (timeout=...) or ask again later"
                )
        return _finished_value(found, self.policy, queue)

    def workers(self) -> list[WorkerInfo]:
        """Lists the live workers of this gator's store, whatever queues they consume.

        Each running worker keeps a record in the store, refreshed every few
        seconds; one that stops cleanly removes it, and a killed one's
        vanishes about 30 seconds after its last heartbeat. Records the
        core cannot read (written by something else) are left out.

        Example:
            >>> gator = Gator("locmem://example-workers")
            >>> gator.workers()
            []

        Returns:
            :class:`~alligator.presence.WorkerInfo` for each, oldest
            heartbeat first.

        Raises:
            NotImplementedError: The store keeps no registry of workers (a
                third-party backend that does not implement one), as
                :meth:`queues` and :meth:`counts` raise for what a store
                cannot do.
        """
        return presence.read_workers(self.backend)

    # -- inspecting --------------------------------------------------------

    def queues(self) -> list[str]:
        """Lists every queue of this gator's store that holds a task or a dead letter.

        Example:
            >>> gator = Gator("locmem://doc-queues", queue_name="emails", allow=["builtins"])
            >>> task = gator.task(abs, -1)
            >>> gator.queues()
            ['emails']

        Returns:
            The queue names, sorted; a queue holding only finished tasks is
            left out.
        """
        return self.backend.queues()

    def counts(self) -> QueueCounts:
        """Counts this gator's tasks per state: waiting, delayed, running and dead.

        Example:
            >>> gator = Gator("locmem://doc-counts", allow=["builtins"])
            >>> task = gator.task(abs, -1)
            >>> later = gator.options(delay_by=60).task(abs, -2)
            >>> gator.counts()
            QueueCounts(waiting=1, delayed=1, running=0, dead=0)

        Returns:
            A :class:`~alligator.backend.QueueCounts`, counted in one step.
        """
        return self.backend.counts(self.queue_name)

    def tasks(self, state: str = "waiting", offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of this gator's tasks in one state, changing nothing.

        Example:
            >>> gator = Gator("locmem://doc-tasks", allow=["builtins"])
            >>> for n in range(3):
            ...     task = gator.options(task_id=f"t{n}").task(abs, -n)
            >>> [info.task_id for info in gator.tasks("waiting", offset=1, limit=5)]
            ['t1', 't2']

        Args:
            state: ``"waiting"`` (in the order workers take them),
                ``"delayed"`` (by due time), ``"running"`` (by the end of
                their lease) or ``"dead"`` (in the order they failed, each
                with its reason and time).
            offset: How many to skip.
            limit: The most to return.

        Returns:
            :class:`~alligator.backend.TaskInfo` snapshots; their payloads
            are the stored JSON, cut to ``max_payload_bytes``; a dead
            letter's reason is shown without its signature, unchecked.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.
        """
        return [
            without_signatures(info) for info in self.backend.tasks(self.queue_name, state, offset, limit)
        ]

    def delete_dead(self, task_id: str) -> bool:
        """Deletes one dead letter of this gator's queue for good.

        Example:
            >>> gator = Gator("locmem://doc-delete", allow=["builtins"])
            >>> task = gator.options(task_id="bad", retries=0).task(int, "x")
            >>> gator.pop().task_id
            'bad'
            >>> [d.task_id for d in gator.dead_letters()]
            ['bad']
            >>> gator.delete_dead("bad"), gator.dead_letters()
            (True, [])

        Returns:
            True if it was deleted; False if no dead letter has that id.
        """
        return self.backend.delete_dead(self.queue_name, task_id)

    def purge_dead(self) -> int:
        """Deletes every dead letter of this gator's queue; live tasks stay.

        Example:
            >>> gator = Gator("locmem://doc-purge", allow=["builtins"])
            >>> for n in range(2):
            ...     task = gator.options(retries=0).task(int, "x")
            ...     done = gator.pop()
            >>> gator.purge_dead()
            2

        Returns:
            How many were deleted.
        """
        return self.backend.purge_dead(self.queue_name)

    def requeue_all(self) -> int:
        """Puts every dead letter back at the end of the queue, in the order they failed.

        Each is requeued as :meth:`requeue` does: due now, its deliveries
        counted from 0 again.

        Example:
            >>> gator = Gator("locmem://doc-requeue-all", allow=["builtins"])
            >>> for n in range(2):
            ...     task = gator.options(retries=0).task(int, "x")
            ...     done = gator.pop()
            >>> gator.requeue_all(), gator.counts().waiting
            (2, 2)

        Returns:
            How many were requeued.
        """
        return self.backend.requeue_all(self.queue_name)


def _check_timeout(timeout: float | None) -> float:
    """A result's timeout as seconds to wait (0: look once), refusing nonsense."""
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {printable(repr(timeout), 60)}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0, or None; not {timeout!r}")
    return float(timeout)


def _not_found(task_id: str, queue: str) -> str:
    return (
        f"task {printable(task_id)} is unknown on queue {printable(queue)!r}: never queued there, "
        "cancelled, or finished too long ago for its result or status to be kept"
    )


def _finished_value(found: Finished, policy: TaskPolicy, queue: str) -> Any:
    """The value a finished task hands out; raises TaskFailed for a failed one.

    With a secret, a return value or a failure reason is handed out only
    when a worker holding one of its keys signed it for this task and queue.
    """
    task_id = found.task_id
    if found.status == FAILED:
        reason = policy.open_reason(queue, task_id, found.reason or "")
        raise TaskFailed(reason or "it failed (no reason was kept)", task_id)
    if found.reason is not None:
        raise InvalidPayloadError(
            f"the stored result of task {printable(task_id)} cannot be read: {printable(found.reason)}"
        )
    if found.result is None:
        return None
    text = policy.open_result(queue, task_id, found.result)
    try:
        return _payload.decode_result(text)
    except InvalidPayloadError as err:
        raise InvalidPayloadError(f"the stored result of task {printable(task_id)} {printable(err)}") from err


def _unknown_options(task_class: type[Task], given: dict[str, Any]) -> str | None:
    """Names the options ``task_class`` does not take, each with the nearest one it does."""
    try:
        parameters = inspect.signature(task_class).parameters
    except (TypeError, ValueError):
        return None  # the caller keeps Python's own message
    known = [name for name, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return unknown_names("task option", given, known)


class Options:
    """Queues tasks with a set of options; made by :meth:`Gator.options`.

    Args:
        gator: The gator to queue on.
        **kwargs: Arguments of :class:`~alligator.tasks.Task`, checked now.
    """

    def __init__(self, gator: Gator, **kwargs: Any) -> None:
        self.gator = gator
        self.task_kwargs = kwargs
        # Build one now so a misspelt option fails here, not at the first task.
        try:
            gator.task_class(**kwargs)
        except TypeError as err:
            if "unexpected keyword argument" not in str(err):
                raise  # a known option with a wrong value says so itself
            raise TypeError(
                _unknown_options(gator.task_class, kwargs) or f"unknown task option: {err}"
            ) from err

    def __enter__(self) -> Options:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Queues a call of ``func`` with these options; see :meth:`Gator.task`."""
        return self.gator.push(self.gator.task_class(**self.task_kwargs), func, *args, **kwargs)


class Batch(Options):
    """Collects tasks and queues them all in one backend call at the end of the block.

    Nothing is queued if the block raises. Tasks with ``is_async=False`` run
    at once, as everywhere.
    """

    def __init__(self, gator: Gator, **kwargs: Any) -> None:
        super().__init__(gator, **kwargs)
        self.tasks: list[Task] = []

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Adds a call of ``func`` to the batch; see :meth:`Gator.task`."""
        task = self.gator.task_class(**self.task_kwargs)
        if not task.is_async:
            return self.gator.push(task, func, *args, **kwargs)
        task.to_call(func, *args, **kwargs)
        task._gator = self.gator
        self.tasks.append(task)
        return task

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()

    def flush(self) -> int:
        """Queues the tasks collected so far.

        Each task's ``queued`` becomes True when all of them were added,
        False when none was (their ids were all in the queue already), and
        None when only some were: one call cannot tell which.

        Returns:
            How many were added; fewer than collected when some ids were
            already in the queue.
        """
        if not self.tasks:
            return 0
        loss_risks.check_enqueue(self.gator.backend, self.gator.allow_eviction)
        now = None
        if any(t.delay_until is not None for t in self.tasks):
            now = self.gator.backend.now()
        tasks = self.tasks
        items = [(t.task_id, self.gator._seal(t), self.gator._delay_of(t, now)) for t in tasks]
        self.tasks = []
        added = self.gator.backend.push_many(self.gator.queue_name, items)
        queued = True if added == len(items) else False if added == 0 else None
        for task in tasks:
            task.queued = queued
        return added
