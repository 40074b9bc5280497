"""What happens to one delivery of a task, from its payload to its settlement.

A worker (and :meth:`Gator.pop <alligator.gator.Gator.pop>`) hands every
reservation to :class:`DeliverySteps`, which takes it through named steps::

    open      the payload: size, signature, JSON, a well-formed task
    admit     allowed module, id matches, not delivered too often unfinished
    depend    every dependency succeeded (else wait, or dead-letter)
    resolve   import the function and its hooks; check where they live
    run       call it
    settle    decide: ack with the return value, retry later, dead letter,
              hand back unstarted, or leave to the lease

The depend step is in :mod:`alligator.dependencies`, the settle step (and
the :class:`~alligator.settling.Outcome` of a delivery) in
:mod:`alligator.settling`; this module holds the rest and the order of the
steps. Each step either passes or ends the delivery with a
:class:`~alligator.verdicts.Verdict`; nothing that happens inside one (a
hostile payload, a task raising ``KeyboardInterrupt``, a module whose import
raises ``KeyError``) can leave these steps without a verdict. The steps read
the store (a dependency's status) but never write to it: the caller hands
the decided delivery to its :class:`~alligator.settler.Settler`
(:meth:`Settler.settle <alligator.settler.Settler.settle>`), the one place
that applies verdicts, and which keeps a success's return value in the
same atomic step as its ack (a worker's settler batches acks, ``Gator.pop``'s
sends its one at once).

A return value is stored as JSON; with a secret configured, it and a dead
letter's reason are signed for the task, its queue and the outcome (see
:meth:`TaskPolicy.seal_result <alligator.security.TaskPolicy.seal_result>`).
One JSON cannot carry (a set, an object, NaN) or longer than the payload
limit fails the task at once, without a retry: running it again would
return the same thing. A task queued with
``store_result=False`` keeps nothing, and may return anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alligator.backend import Backend, Reservation
from alligator.constants import SUCCESS
from alligator.dependencies import DEPENDENCY_POLL_SECONDS as DEPENDENCY_POLL_SECONDS
from alligator.dependencies import DependencyChecks
from alligator.exceptions import (
    InvalidPayloadError,
    TaskRefused,
    UnknownCallableError,
    UnknownModuleError,
    WorkerLost,
)
from alligator.limits import MAX_TIME_LIMIT
from alligator.security import TaskPolicy
from alligator.settler import DEFAULT_LEASE_SECONDS as DEFAULT_LEASE_SECONDS
from alligator.settling import TRACEBACK_FRAMES as TRACEBACK_FRAMES
from alligator.settling import Outcome as Outcome
from alligator.settling import Refused, Settling, traceback_text
from alligator.tasks import Task
from alligator.text import printable
from alligator.utils import import_attr
from alligator.verdicts import Verdict

#: Default cap on deliveries of one task that never finished (its worker kept
#: dying, or it outlived its lease); past it the task is dead-lettered unrun.
#: Deliveries that ran and failed do not count: ``retries`` governs those.
DEFAULT_MAX_DELIVERIES = 5
#: Default seconds a task's return value is kept (``Gator(result_ttl=...)``).
DEFAULT_RESULT_TTL = 3600.0


#: The most imported functions a consumer remembers (see DeliverySteps._resolve).
MAX_KNOWN_FUNCTIONS = 1024

log = logging.getLogger("alligator.worker")


class _Lost(Refused):
    """Ends a delivery of a task whose earlier deliveries never finished too often (its workers died)."""


@dataclass(frozen=True)
class DeliveryRules:
    """What a consumer applies to every delivery.

    Args:
        policy: Allowed modules, signing secrets and the payload size limit.
        max_deliveries: Deliveries that never finished after which a task is
            dead-lettered instead of run again.
        task_class: The :class:`~alligator.tasks.Task` class payloads are read into.
        result_ttl: Seconds to keep a return value when the task does not
            say (its ``result_ttl`` is None): the gator's ``result_ttl``.
    """

    policy: TaskPolicy
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    task_class: type[Task] = Task
    result_ttl: float = DEFAULT_RESULT_TTL


@dataclass
class Delivery:
    """One delivery on its way through the steps, and how it ended.

    Attributes:
        reservation: What the backend handed out.
        queue: The queue it came from.
        task: The task read from the payload (None while, or if, unreadable).
        verdict: What the steps decided the store is to do with it; None
            until they have (see :mod:`alligator.verdicts`).
        outcome: How it ended; None until a settler applied the verdict.
        reason: Why it was dead-lettered, or what failed.
        note: For a retry, what failed and when it runs again (its log line).
        cause: The exception whose traceback a dead letter's log line shows.
        delay: Seconds until a retry or a dependency check.
        duration: Seconds the function ran.
        time_limit: The limit it ran under (its own, else the consumer's),
            in seconds; None when unlimited. Set as the run step starts.
        interrupted: A ``KeyboardInterrupt`` the task raised: settled as a
            failure, and kept so an in-process caller can re-raise it.
    """

    reservation: Reservation
    queue: str
    task: Task | None = None
    verdict: Verdict | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    note: str = ""
    cause: BaseException | None = field(default=None, repr=False)
    delay: float = 0.0
    duration: float = 0.0
    time_limit: float | None = None
    interrupted: BaseException | None = field(default=None, repr=False)

    @property
    def decided(self) -> bool:
        """Whether the steps have decided its verdict (no step is left to run)."""
        return self.verdict is not None

    @property
    def settled(self) -> bool:
        """Whether a settler has applied its verdict (a batched ack may still be on its way)."""
        return self.outcome is not None

    @property
    def function(self) -> str:
        """``module:function`` of the task, escaped for logs, or ``?``."""
        task = self.task
        if task is None or not task.callable:
            return "?"
        return printable(f"{task.module}:{task.callable}")


class DeliverySteps(DependencyChecks, Settling):
    """Takes deliveries from one queue of one backend through the steps.

    Example:
        >>> from alligator import Gator
        >>> from alligator.settler import Settler
        >>> gator = Gator("locmem://steps-example", allow=["builtins"])
        >>> _ = gator.task(abs, -3)
        >>> [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
        >>> steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
        >>> delivery = steps.handle(reservation)
        >>> type(delivery.verdict).__name__, delivery.task.result
        ('Acknowledge', 3)
        >>> Settler(gator.backend).settle(delivery).value
        'succeeded'

    Args:
        backend: The backend the reservations came from (read, never
            written: the verdicts go to a settler).
        queue: Their queue.
        rules: What to apply to each.

    Attributes:
        time_limit: Seconds a task without a limit of its own may run
            (None: no limit); see :mod:`alligator.timelimits`.
        before_run: Called with the delivery just before its function is
            called (a worker's STARTED event); exceptions are the caller's
            to handle.
    """

    def __init__(self, backend: Backend, queue: str, rules: DeliveryRules) -> None:
        self.backend = backend
        self.queue = queue
        self.rules = rules
        self.time_limit: float | None = None
        self.before_run: Callable[[Delivery], None] | None = None
        # Functions already imported and allowed, by (module, name): importing
        # again costs a worker ~5 us a task (the import lock). A module
        # reloaded while the worker runs is not seen until it restarts, as
        # with any other code change.
        self._functions: dict[tuple[str, str], Callable[..., Any]] = {}

    # -- the whole -------------------------------------------------------

    def handle(self, reservation: Reservation) -> Delivery:
        """Runs every step on one reservation and decides its verdict.

        Returns:
            The delivery, decided (``delivery.verdict``), for a
            :class:`~alligator.settler.Settler` to settle.
        """
        delivery = self.open(reservation)
        if not delivery.decided:
            self.complete(delivery)
        return delivery

    def open(self, reservation: Reservation) -> Delivery:
        """Opens and admits a delivery: the steps that import and run nothing.

        A caller holding acks of earlier tasks sends them before
        :meth:`complete` when ``delivery.task.depends_on`` is set, since a
        dependency may be one of them.

        Returns:
            The delivery, with its task; already decided (to be
            dead-lettered, or left to its lease) when the payload may not run.
        """
        delivery = Delivery(reservation, self.queue)
        try:
            delivery.task = self._open_payload(reservation)
            self._admit(delivery.task, reservation)
        except BaseException as exc:
            self._end_on(delivery, exc)
            if isinstance(exc, _Lost):
                # Its own processes died each time: this one records its end.
                self.call_killed_hook(delivery, WorkerLost(exc.reason))
        return delivery

    def complete(self, delivery: Delivery) -> Delivery:
        """Checks dependencies, resolves and runs an opened delivery, and decides its verdict."""
        task = delivery.task
        assert task is not None and not delivery.decided
        try:
            if task.depends_on and self._dependencies_pending(task):
                self._wait_for_dependencies(delivery)
                return delivery
            func = self._resolve(task)
        except BaseException as exc:
            self._end_on(delivery, exc)
            return delivery
        self._run(delivery, func)
        return delivery

    def fail(self, delivery: Delivery, exc: BaseException, func: Callable[..., Any] | None = None) -> Verdict:
        """Decides an opened delivery whose task failed with ``exc``: a retry, or the dead letters.

        The rules of a task that raised: released after its backoff while it
        has retries left, else dead-lettered with the traceback (a time
        limit's reason when ``exc`` is a
        :class:`~alligator.exceptions.TimeLimitExceeded`). With ``func``, a
        ``TypeError`` from arguments that do not fit it is dead-lettered at
        once. The supervisor decides a task it killed for its time limit
        this way, without importing the function.

        Returns:
            The verdict, also on ``delivery.verdict``.
        """
        assert delivery.task is not None and not delivery.decided
        delivery.task.exception = exc
        try:
            self._failed(delivery, func, exc)
        except BaseException as err:
            self._end_on(delivery, err)
        assert delivery.verdict is not None
        return delivery.verdict

    def call_killed_hook(self, delivery: Delivery, exc: BaseException) -> None:
        """Calls the task's ``on_killed(task, exc)`` hook, if it names one; what it raises is only logged.

        For a task whose own process could call nothing: killed for its time
        limit (``exc`` a :class:`~alligator.exceptions.TimeLimitExceeded`, from
        the supervisor's settling process), or dead-lettered after its
        workers died on it too often (a :class:`~alligator.exceptions.WorkerLost`,
        from the worker that refused it). Called once the verdict is decided,
        before it is applied, as ``on_error`` is; nothing the hook does
        changes the verdict. Its module passed the allow list as the delivery
        was opened; what its name leads to is checked as a worker checks hooks.
        """
        task = delivery.task
        if task is None or not task.on_killed:
            return
        module, _, name = task.on_killed.partition(":")
        try:
            hook = import_attr(module, name)
            self.rules.policy.check_defined_in_allowed(hook, module, name, "hook")
            hook(task, exc)
        except Exception:
            log.exception(
                "task %s: its on_killed hook %s raised; its outcome stands",
                printable(task.task_id),
                printable(task.on_killed),
            )

    def refuse(self, delivery: Delivery, reason: str) -> Verdict:
        """Dead-letters an opened delivery its worker may not run, with ``reason``, unrun.

        For what the consumer finds past the steps (a limit the store cannot
        keep: :mod:`alligator.limiting`).

        Returns:
            The verdict, also on ``delivery.verdict``.
        """
        assert not delivery.decided
        self._end_on(delivery, Refused(reason))
        assert delivery.verdict is not None
        return delivery.verdict

    # -- the steps -------------------------------------------------------

    def _open_payload(self, reservation: Reservation) -> Task:
        policy = self.rules.policy
        try:
            return self.rules.task_class.deserialize(policy.open(reservation.payload))
        except TaskRefused as err:
            raise Refused(f"refused: {err}") from err
        except InvalidPayloadError as err:
            raise Refused(f"unreadable payload: {err}") from err
        except Exception as err:
            # Whatever else a hostile payload trips on must end in the dead
            # letters, or it would be delivered again and again.
            raise Refused(f"unreadable payload: {type(err).__name__}: {err}") from err

    def _admit(self, task: Task, reservation: Reservation) -> None:
        assert task.module is not None and task.callable is not None
        hooks = task.hooks()
        # A function already resolved here passed these checks (under the
        # same policy); only a task naming hooks is checked again.
        if hooks or (task.module, task.callable) not in self._functions:
            try:
                self.rules.policy.check_task(task.module, task.callable, hooks)
            except TaskRefused as err:
                raise Refused(f"refused: {err}") from err
        task.attempts = reservation.attempts
        if task.task_id != reservation.task_id:
            raise Refused(
                f"payload names task id {printable(task.task_id)!r} "
                f"but was queued as {printable(reservation.task_id)!r}"
            )
        unfinished = reservation.attempts - reservation.failures
        if unfinished > self.rules.max_deliveries:
            raise _Lost(
                f"delivered {unfinished} times without finishing (limit "
                f"{self.rules.max_deliveries}); its worker probably died while running it"
            )

    def _resolve(self, task: Task) -> Callable[..., Any]:
        """Imports the function and hooks, and checks they live in allowed modules."""
        assert task.module is not None and task.callable is not None
        key = (task.module, task.callable)
        known = self._functions.get(key)
        if known is not None and task.func is None and not task.hooks():
            task.func = known
            return known
        try:
            func = task.resolve()
            hooks = task.resolve_hooks()
        except (UnknownModuleError, UnknownCallableError, InvalidPayloadError) as err:
            raise Refused(str(err)) from err
        except BaseException as err:
            # A module whose import raises (Django not set up, a KeyError or
            # SyntaxError at import, a property raising during the attribute
            # walk) will raise again next time: dead-letter it now, with
            # its traceback, instead of redelivering it every lease.
            raise Refused(
                f"importing {task.module}:{task.callable} raised:\n{traceback_text(err)}", err
            ) from err
        policy = self.rules.policy
        try:
            # The name was allowed; now the thing it led to must be too. A
            # dotted name can walk out of an allowed module through what it
            # imported (`mytasks:logging.os.system`).
            policy.check_defined_in_allowed(func, task.module, task.callable)
            for (module, name), hook_func in hooks:
                policy.check_defined_in_allowed(hook_func, module, name, "hook")
        except TaskRefused as err:
            raise Refused(f"refused: {err}") from err
        if len(self._functions) < MAX_KNOWN_FUNCTIONS:
            self._functions[key] = func
        return func

    def effective_time_limit(self, task: Task) -> float | None:
        """The limit ``task`` runs under: its own, else this consumer's, at most a week."""
        own = getattr(task, "time_limit", None)
        limit = own if own is not None else self.time_limit
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
            return None  # unset, or nonsense from a payload: no limit rather than an instant failure
        return float(min(limit, MAX_TIME_LIMIT))

    def _run(self, delivery: Delivery, func: Callable[..., Any]) -> None:
        task = delivery.task
        assert task is not None
        delivery.time_limit = limit = self.effective_time_limit(task)
        if self.before_run is not None:
            self.before_run(delivery)
        started = time.monotonic()
        try:
            if limit is None:
                task.run()
            else:
                # Imported here: only limited tasks need the watchdog.
                from alligator import timelimits

                with timelimits.watchdog().limit(limit):
                    task.run()
        except BaseException as exc:
            _mend_standard_streams()
            delivery.duration = time.monotonic() - started
            if task.status == SUCCESS:
                # The function returned; only a hook raised afterwards.
                self._succeeded(delivery)
                return
            if isinstance(exc, KeyboardInterrupt):
                delivery.interrupted = exc
            self.fail(delivery, exc, func)
            return
        _mend_standard_streams()
        delivery.duration = time.monotonic() - started
        self._succeeded(delivery)


def _mend_standard_streams() -> None:
    """Reopens stdout/stderr if a task closed them, and points log handlers at the new ones.

    A task that closes ``sys.stderr`` would otherwise take the worker down at
    its next log line (logging reports its own failure on the closed stream).
    """
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is not None and not getattr(stream, "closed", False):
            continue
        try:
            fresh = os.fdopen(os.dup(fd), "w", buffering=1, errors="backslashreplace")
        except OSError:
            fresh = open(os.devnull, "w")
        setattr(sys, name, fresh)
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                    # Not setStream(): it flushes the closed stream first, and raises.
                    with handler.lock or contextlib.nullcontext():
                        handler.stream = fresh
