"""What happens to one delivery of a task, from its payload to its settlement.

A worker (and :meth:`Gator.pop <alligator.gator.Gator.pop>`) hands every
reservation to :class:`DeliverySteps`, which takes it through named steps::

    open      the payload: size, signature, JSON, a well-formed task
    admit     allowed module, id matches, not delivered too often unfinished
    depend    every dependency succeeded (else wait, or dead-letter)
    resolve   import the function and its hooks; check where they live
    run       call it
    settle    success (its return value encoded for the ack), retry later,
              or dead letter

Each step either passes or ends the delivery with a verdict; nothing that
happens inside one (a hostile payload, a task raising ``KeyboardInterrupt``,
a module whose import raises ``KeyError``) can leave these steps without the
delivery being settled, or, when the store itself fails, deliberately left to
its lease so it is delivered again. Acknowledging a success is the caller's:
a worker batches acks, ``Gator.pop`` sends its one at once. Either way it
sends the delivery's :attr:`Delivery.ack` with
:meth:`Backend.ack_results <alligator.backend.Backend.ack_results>`, so the
return value is kept in the same atomic step as the ack.

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
import enum
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alligator.backend import Ack, Backend, Reservation
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.exceptions import (
    BackendError,
    InvalidPayloadError,
    TaskRefused,
    TimeLimitExceeded,
    UnknownCallableError,
    UnknownModuleError,
)
from alligator.limits import MAX_DEPENDENCIES, MAX_TIME_LIMIT
from alligator.security import TaskPolicy
from alligator.tasks import Task
from alligator.text import printable, storable

log = logging.getLogger("alligator.worker")

#: Default lease a worker takes on a task, in seconds; kept alive while it runs.
DEFAULT_LEASE_SECONDS = 30.0
#: Default cap on deliveries of one task that never finished (its worker kept
#: dying, or it outlived its lease); past it the task is dead-lettered unrun.
#: Deliveries that ran and failed do not count: ``retries`` governs those.
DEFAULT_MAX_DELIVERIES = 5
#: Seconds a task whose dependencies are still pending waits before it is
#: looked at again.
DEPENDENCY_POLL_SECONDS = 0.5
#: Frames of a task's traceback kept in its dead letter.
TRACEBACK_FRAMES = 8
#: Default seconds a task's return value is kept (``Gator(result_ttl=...)``).
DEFAULT_RESULT_TTL = 3600.0

# One encoder for every result, as for payloads: compact, strict JSON (no
# NaN or infinities, which other languages' parsers refuse), ASCII so its
# length is its size in bytes.
_RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class Outcome(str, enum.Enum):
    """How one delivery ended."""

    #: The function returned; the caller acknowledges it.
    SUCCEEDED = "succeeded"
    #: It failed and was released to run again after a backoff.
    RETRYING = "retrying"
    #: It went to the dead letters, with the reason.
    DEAD = "dead-lettered"
    #: A dependency is still pending; handed back without counting a delivery.
    WAITING = "waiting"
    #: The store failed while settling it, so it is left to its lease and delivered again.
    UNSETTLED = "unsettled"


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
        outcome: How it ended; None until it has.
        reason: Why it was dead-lettered, or what failed.
        delay: Seconds until a retry or a dependency check.
        duration: Seconds the function ran.
        time_limit: The limit it ran under (its own, else the consumer's),
            in seconds; None when unlimited. Set as the run step starts.
        interrupted: A ``KeyboardInterrupt`` the task raised: settled as a
            failure, and kept so an in-process caller can re-raise it.
        ack: For a success, the :class:`~alligator.backend.Ack` to send
            with :meth:`Backend.ack_results
            <alligator.backend.Backend.ack_results>`: the return value as
            JSON (None when the task keeps no result) and how long to keep it.
    """

    reservation: Reservation
    queue: str
    task: Task | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    delay: float = 0.0
    duration: float = 0.0
    time_limit: float | None = None
    interrupted: BaseException | None = field(default=None, repr=False)
    ack: Ack | None = None

    @property
    def settled(self) -> bool:
        """Whether the delivery has ended (a success still needs its ack)."""
        return self.outcome is not None

    @property
    def function(self) -> str:
        """``module:function`` of the task, escaped for logs, or ``?``."""
        task = self.task
        if task is None or not task.callable:
            return "?"
        return printable(f"{task.module}:{task.callable}")


class _Refused(Exception):
    """Ends a delivery in the dead letters with this reason."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The task's own exception, whose traceback the log line shows.
        self.cause = cause


class DeliverySteps:
    """Takes deliveries from one queue of one backend through the steps.

    Example:
        >>> from alligator import Gator
        >>> gator = Gator("locmem://steps-example", allow=["builtins"])
        >>> _ = gator.task(abs, -3)
        >>> [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
        >>> steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
        >>> delivery = steps.handle(reservation)
        >>> delivery.outcome.value, delivery.task.result
        ('succeeded', 3)

    Args:
        backend: The backend the reservations came from.
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

    # -- the whole -------------------------------------------------------

    def handle(self, reservation: Reservation, ack: bool = True) -> Delivery:
        """Runs every step on one reservation; with ``ack``, acks a success at once.

        Returns:
            The delivery, settled (a success is acked only when ``ack``).
        """
        delivery = self.open(reservation)
        if not delivery.settled:
            self.complete(delivery)
        if ack and delivery.outcome is Outcome.SUCCEEDED:
            self.ack(delivery)
        return delivery

    def open(self, reservation: Reservation) -> Delivery:
        """Opens and admits a delivery: the steps that import and run nothing.

        A caller holding acks of earlier tasks sends them before
        :meth:`complete` when ``delivery.task.depends_on`` is set, since a
        dependency may be one of them.

        Returns:
            The delivery, with its task; already settled (dead-lettered, or
            left to its lease) when the payload may not run.
        """
        delivery = Delivery(reservation, self.queue)
        try:
            delivery.task = self._open_payload(reservation)
            self._admit(delivery.task, reservation)
        except BaseException as exc:
            self._end_on(delivery, exc)
        return delivery

    def complete(self, delivery: Delivery) -> Delivery:
        """Checks dependencies, resolves, runs and settles an opened delivery."""
        task = delivery.task
        assert task is not None and not delivery.settled
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

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledges a success now, keeping its result (a worker batches acks instead).

        Returns:
            False when the lease had been lost first (it may run again).
        """
        reservation = delivery.reservation
        assert delivery.ack is not None, "only a success is acknowledged"
        if self.backend.ack_results(self.queue, [delivery.ack]) == 1:
            return True
        log.warning(
            "task %s finished after its lease was lost; it may run again", printable(reservation.task_id)
        )
        return False

    # -- the steps -------------------------------------------------------

    def _open_payload(self, reservation: Reservation) -> Task:
        policy = self.rules.policy
        try:
            return self.rules.task_class.deserialize(policy.open(reservation.payload))
        except TaskRefused as err:
            raise _Refused(f"refused: {err}") from err
        except InvalidPayloadError as err:
            raise _Refused(f"unreadable payload: {err}") from err
        except Exception as err:
            # Whatever else a hostile payload trips on must end in the dead
            # letters, or it would be delivered again and again.
            raise _Refused(f"unreadable payload: {type(err).__name__}: {err}") from err

    def _admit(self, task: Task, reservation: Reservation) -> None:
        assert task.module is not None and task.callable is not None
        try:
            self.rules.policy.check_task(task.module, task.callable, task.hooks())
        except TaskRefused as err:
            raise _Refused(f"refused: {err}") from err
        task.attempts = reservation.attempts
        if task.task_id != reservation.task_id:
            raise _Refused(
                f"payload names task id {printable(task.task_id)!r} "
                f"but was queued as {printable(reservation.task_id)!r}"
            )
        unfinished = reservation.attempts - reservation.failures
        if unfinished > self.rules.max_deliveries:
            raise _Refused(
                f"delivered {unfinished} times without finishing (limit "
                f"{self.rules.max_deliveries}); its worker probably died while running it"
            )

    def _dependencies_pending(self, task: Task) -> bool:
        """True while a dependency is pending; raises _Refused when one never can succeed."""
        pending = False
        for dependency in task.depends_on:
            status = self.backend.status(self.queue, dependency)
            if status == SUCCESS:
                continue
            if status == FAILED:
                raise _Refused(f"dependency {printable(dependency)} failed")
            if status is None:
                raise _Refused(
                    f"dependency {printable(dependency)} is unknown: never queued on "
                    f"{printable(self.queue)!r}, cancelled, or finished too long ago to remember"
                )
            pending = True
        if pending:
            cycle = self._dependency_cycle(task)
            if cycle:
                raise _Refused("dependency cycle: " + " -> ".join(printable(i, 40) for i in cycle))
        return pending

    def _dependency_cycle(self, task: Task) -> list[str] | None:
        """Finds a chain of pending dependencies leading back to ``task``.

        Reads the payloads of pending dependencies, at most
        :data:`~alligator.limits.MAX_DEPENDENCIES` of them, so a cycle is
        dead-lettered instead of polled for ever. A walk that meets more
        pending tasks than that cannot rule a cycle out, so it refuses the
        task too: pending chains are capped at that many tasks.

        Raises:
            _Refused: The pending chain is longer than the cap.
        """
        paths: dict[str, list[str]] = {task.task_id: [task.task_id]}
        frontier = [task.task_id]
        depends = {task.task_id: task.depends_on}
        while frontier:
            current = frontier.pop(0)
            for dependency in depends.get(current, []):
                if dependency == task.task_id:
                    return [*paths[current], dependency]
                if dependency in paths:
                    continue
                if len(paths) > MAX_DEPENDENCIES:
                    raise _Refused(
                        f"its pending dependencies reach more than {MAX_DEPENDENCIES} tasks: "
                        "a cycle, or a chain too deep to wait on (queue long chains in stages)"
                    )
                paths[dependency] = [*paths[current], dependency]
                depends[dependency] = self._depends_of(dependency, paths[dependency])
                frontier.append(dependency)
        return None

    def _depends_of(self, task_id: str, path: list[str]) -> list[str]:
        """The dependencies of a task the walk reached; refuses when the chain can never finish."""
        status = self.backend.status(self.queue, task_id)
        if status == FAILED or status is None:
            # Everything that waits on it, directly or not, would fail in
            # turn, one dependency poll per link: say so now.
            chain = " -> ".join(printable(i, 40) for i in path)
            outcome = "failed" if status == FAILED else "is unknown"
            raise _Refused(f"dependency chain {chain} leads to a task that {outcome}")
        if status not in (WAITING, DELAYED, RUNNING):
            return []
        try:
            payload = self.backend.peek(self.queue, task_id)
            if payload is None:
                return []
            return list(self.rules.task_class.deserialize(self.rules.policy.open(payload)).depends_on)
        except (TaskRefused, InvalidPayloadError):
            # A dependency that will be dead-lettered itself: no cycle can
            # be seen through it.
            return []

    def _wait_for_dependencies(self, delivery: Delivery) -> None:
        reservation = delivery.reservation
        assert delivery.task is not None
        delivery.task.to_waiting()
        delivery.delay = DEPENDENCY_POLL_SECONDS
        self.backend.release(
            self.queue, reservation.task_id, reservation.receipt, DEPENDENCY_POLL_SECONDS, False
        )
        delivery.outcome = Outcome.WAITING

    def _resolve(self, task: Task) -> Callable[..., Any]:
        """Imports the function and hooks, and checks they live in allowed modules."""
        try:
            func = task.resolve()
            hooks = task.resolve_hooks()
        except (UnknownModuleError, UnknownCallableError, InvalidPayloadError) as err:
            raise _Refused(str(err)) from err
        except BaseException as err:
            # A module whose import raises (Django not set up, a KeyError or
            # SyntaxError at import, a property raising during the attribute
            # walk) will raise again next time: dead-letter it now, with
            # its traceback, instead of redelivering it every lease.
            raise _Refused(
                f"importing {task.module}:{task.callable} raised:\n{_traceback_text(err)}", err
            ) from err
        policy = self.rules.policy
        assert task.module is not None and task.callable is not None
        try:
            # The name was allowed; now the thing it led to must be too. A
            # dotted name can walk out of an allowed module through what it
            # imported (`mytasks:logging.os.system`).
            policy.check_defined_in_allowed(func, task.module, task.callable)
            for (module, name), hook_func in hooks:
                policy.check_defined_in_allowed(hook_func, module, name, "hook")
        except TaskRefused as err:
            raise _Refused(f"refused: {err}") from err
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
            task.exception = exc
            if isinstance(exc, KeyboardInterrupt):
                delivery.interrupted = exc
            try:
                self._failed(delivery, func, exc)
            except BaseException as err:
                self._end_on(delivery, err)
            return
        _mend_standard_streams()
        delivery.duration = time.monotonic() - started
        self._succeeded(delivery)

    # -- settling --------------------------------------------------------

    def _succeeded(self, delivery: Delivery) -> None:
        task, reservation = delivery.task, delivery.reservation
        assert task is not None
        result: str | None = None
        if task.store_result:
            try:
                result = _RESULT_ENCODER.encode(task.result)
            except Exception as err:  # TypeError, ValueError (NaN, huge int), RecursionError...
                # A bug in the task, as a non-JSON argument is: it would return
                # the same thing on every retry, so no retry.
                self._dead_letter(
                    delivery,
                    f"returned a value JSON cannot carry: {type(err).__name__}: {err}; "
                    "return dicts, lists, strings, numbers, booleans or None",
                    err,
                )
                return
            result = self._signed_result(reservation.task_id, result)
            limit = self.rules.policy.max_payload_bytes
            if len(result) > limit:  # ASCII (see _RESULT_ENCODER): characters are bytes
                self._dead_letter(
                    delivery,
                    f"returned {len(result)} bytes, over the limit of {limit}; keep large data "
                    "elsewhere and return where it is, or queue the task with store_result=False",
                )
                return
        ttl = self.rules.result_ttl if task.result_ttl is None else task.result_ttl
        delivery.ack = Ack(reservation.task_id, reservation.receipt, result, ttl)
        delivery.outcome = Outcome.SUCCEEDED
        _log(logging.INFO, delivery, "succeeded in %.3fs", delivery.duration)

    def _signed_result(self, task_id: str, result: str) -> str:
        # Measured signed, as the store will hold it; the signature ties it to
        # this task and queue, so a writer to the store cannot plant one.
        return self.rules.policy.seal_result(self.queue, task_id, result)

    def _failed(self, delivery: Delivery, func: Callable[..., Any], exc: BaseException) -> None:
        task, reservation = delivery.task, delivery.reservation
        assert task is not None
        if isinstance(exc, TypeError) and not _arguments_fit(func, task):
            raise _Refused(f"arguments do not fit: {exc}")
        over_time = isinstance(exc, TimeLimitExceeded) and delivery.time_limit is not None
        from alligator.timelimits import limit_reason  # as in _run: loaded when first needed

        if reservation.attempts <= task.retries:
            delivery.delay = task.next_retry_delay(reservation.attempts)
            task.to_retrying()
            self.backend.release(self.queue, reservation.task_id, reservation.receipt, delivery.delay)
            delivery.outcome = Outcome.RETRYING
            _log(
                logging.WARNING,
                delivery,
                "raised %s: %s; retry %d of %d in %.1fs",
                type(exc).__name__,
                limit_reason(delivery.time_limit)
                if over_time and delivery.time_limit is not None
                else printable(exc),
                reservation.attempts,
                task.retries,
                delivery.delay,
            )
            return
        if over_time:
            assert delivery.time_limit is not None
            raise _Refused(
                f"{limit_reason(delivery.time_limit)} on attempt {reservation.attempts} of "
                f"{task.retries + 1}:\n{_traceback_text(exc)}",
                exc,
            )
        raise _Refused(
            f"raised on attempt {reservation.attempts} of {task.retries + 1}:\n{_traceback_text(exc)}", exc
        )

    def _end_on(self, delivery: Delivery, exc: BaseException) -> None:
        """Settles a delivery a step ended with ``exc``, whatever it is."""
        if isinstance(exc, _Refused):
            self._dead_letter(delivery, exc.reason, exc.cause)
        elif isinstance(exc, BackendError):
            self._unsettled(delivery, exc)
        elif isinstance(exc, Exception):
            # A bug of ours, or something no step foresaw: a payload that
            # trips it would trip it on every delivery.
            self._dead_letter(delivery, f"could not be handled:\n{_traceback_text(exc)}", exc)
        else:
            # KeyboardInterrupt, SystemExit... raised while opening or
            # importing: still the payload's doing, so settle it; an
            # in-process caller gets a KeyboardInterrupt back afterwards.
            if isinstance(exc, KeyboardInterrupt):
                delivery.interrupted = exc
            self._dead_letter(delivery, f"could not be handled:\n{_traceback_text(exc)}", exc)

    def _dead_letter(self, delivery: Delivery, reason: str, cause: BaseException | None = None) -> None:
        reservation = delivery.reservation
        if delivery.task is not None:
            delivery.task.to_failed()
        delivery.reason = storable(reason)
        # Signed for the store (when a secret is set); logs show it plain.
        stored = self.rules.policy.seal_reason(self.queue, reservation.task_id, delivery.reason)
        try:
            self.backend.dead_letter(self.queue, reservation.task_id, reservation.receipt, stored)
        except Exception as err:
            self._unsettled(delivery, err)
            return
        delivery.outcome = Outcome.DEAD
        lines = delivery.reason.strip().splitlines() or [""]
        summary = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
        # The traceback goes through the formatter (exc_info), so a JSON log
        # keeps it in one field; the text of the line itself is escaped.
        _log(logging.ERROR, delivery, "dead-lettered: %s", printable(summary, 500), exc_info=cause)

    def _unsettled(self, delivery: Delivery, err: BaseException) -> None:
        delivery.outcome = Outcome.UNSETTLED
        delivery.reason = f"{type(err).__name__}: {err}"
        _log(
            logging.ERROR,
            delivery,
            "could not be settled (%s); it runs again once its lease ends",
            printable(delivery.reason),
        )


def _log(
    level: int, delivery: Delivery, message: str, *args: Any, exc_info: BaseException | None = None
) -> None:
    """Logs one line about a delivery, with its fields as ``extra`` for JSON logs."""
    if not log.isEnabledFor(level):
        return
    reservation = delivery.reservation
    outcome = delivery.outcome.value if delivery.outcome is not None else None
    log.log(
        level,
        "task %s [%s] on %s: " + message,
        delivery.function,
        printable(reservation.task_id),
        printable(delivery.queue),
        *args,
        exc_info=exc_info,
        extra={
            "task_id": reservation.task_id,
            "function": delivery.function,
            "queue": delivery.queue,
            "outcome": outcome,
            "attempt": reservation.attempts,
            "duration": round(delivery.duration, 6),
            "delay": round(delivery.delay, 3)
            if delivery.outcome in (Outcome.RETRYING, Outcome.WAITING)
            else None,
        },
    )


def _traceback_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-TRACEBACK_FRAMES))


def _arguments_fit(func: Callable[..., Any], task: Task) -> bool:
    import inspect

    try:
        inspect.signature(func).bind(*task.func_args, **task.func_kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature to check (some builtins): assume it fits
        return True
    return True


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
