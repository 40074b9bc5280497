"""How a delivery ends: its :class:`Outcome`, and the settle step that decides its verdict.

The settle step of :class:`~alligator.delivery.DeliverySteps` decides, and
writes nothing: a success gets its return value encoded (and signed) for
the ack; a failure is retried after its backoff, or dead-lettered with its
traceback once its retries are spent; a step that raised :class:`Refused`
dead-letters the task with the reason given; a store that failed while a
step read it leaves the task to its lease. The decision is a
:class:`~alligator.verdicts.Verdict` on the delivery, which the
:class:`~alligator.settler.Settler` applies (and logs, as one line).
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alligator import constants, reasons
from alligator import payload as _payload
from alligator.exceptions import BackendError, NotSerializableError, TimeLimitExceeded
from alligator.text import printable, storable
from alligator.utils import arguments_fit
from alligator.verdicts import Acknowledge, Bury, Leave, Retry

if TYPE_CHECKING:  # pragma: no cover
    from alligator.delivery import Delivery, DeliveryRules

#: Frames of a task's traceback kept in its dead letter.
TRACEBACK_FRAMES = 8


class Outcome(str, enum.Enum):
    """How one delivery ended.

    Where it leaves the task in a status of :mod:`alligator.constants`, the
    outcome carries that status's name (:data:`~alligator.constants.STATUS_NAMES`):
    ``RETRYING`` is the task retrying, ``WAITING`` the task waiting again.
    """

    #: The function returned; it is acknowledged (at once, or in the settler's next batch).
    SUCCEEDED = "succeeded"
    #: It failed and was released to run again after a backoff (status RETRYING).
    RETRYING = constants.STATUS_NAMES[constants.RETRYING]
    #: It went to the dead letters, with the reason.
    DEAD = "dead-lettered"
    #: A dependency is still pending; handed back without counting a delivery (status WAITING again).
    WAITING = constants.STATUS_NAMES[constants.WAITING]
    #: The store failed while settling it, so it is left to its lease and delivered again.
    UNSETTLED = "unsettled"


class Refused(Exception):
    """Ends a delivery in the dead letters with this reason."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The task's own exception, whose traceback the log line shows.
        self.cause = cause


class Settling:
    """The settle step of :class:`~alligator.delivery.DeliverySteps` (a mixin: the state is the steps').

    Each method decides a :class:`~alligator.verdicts.Verdict` and puts it
    on the delivery (``delivery.verdict``); none writes to the store.
    """

    queue: str
    rules: DeliveryRules

    def _succeeded(self, delivery: Delivery) -> None:
        task, reservation = delivery.task, delivery.reservation
        assert task is not None
        result: str | None = None
        if task.store_result:
            try:
                result = _payload.encode_result(task.result)
            except Exception as err:  # NotSerializableError, ValueError (a huge int)...
                # A bug in the task, as a non-JSON argument is: it would return
                # the same thing on every retry, so no retry.
                self._bury(delivery, _unstorable_reason(err), err)
                return
            result = self._signed_result(reservation.task_id, result)
            limit = self.rules.policy.max_payload_bytes
            if len(result) > limit:  # ASCII (see encode_result): characters are bytes
                self._bury(delivery, reasons.RETURNED_TOO_LARGE % (len(result), limit))
                return
        ttl = self.rules.result_ttl if task.result_ttl is None else task.result_ttl
        delivery.verdict = Acknowledge(self.queue, reservation.task_id, reservation.receipt, result, ttl)

    def _signed_result(self, task_id: str, result: str) -> str:
        # Measured signed, as the store will hold it; the signature ties it to
        # this task and queue, so a writer to the store cannot plant one.
        return self.rules.policy.seal_result(self.queue, task_id, result)

    def _failed(self, delivery: Delivery, func: Callable[..., Any] | None, exc: BaseException) -> None:
        """Decides a retry after the backoff, or raises Refused when the task may not run again."""
        task, reservation = delivery.task, delivery.reservation
        assert task is not None
        if (
            func is not None
            and isinstance(exc, TypeError)
            and not arguments_fit(func, task.func_args, task.func_kwargs)
        ):
            raise Refused(f"arguments do not fit: {exc}")
        over_time = isinstance(exc, TimeLimitExceeded) and delivery.time_limit is not None
        from alligator.timelimits import limit_reason  # as in DeliverySteps._run: loaded when first needed

        delay = task.retry_after(reservation.attempts)
        if delay is not None:
            delivery.delay = delay
            task.to_retrying()
            why = (
                limit_reason(delivery.time_limit)
                if over_time and delivery.time_limit is not None
                else printable(exc)
            )
            delivery.note = (
                f"raised {type(exc).__name__}: {why}; "
                f"retry {reservation.attempts} of {task.retries} in {delivery.delay:.1f}s"
            )
            delivery.verdict = Retry(self.queue, reservation.task_id, reservation.receipt, delivery.delay)
            return
        if over_time:
            assert delivery.time_limit is not None
            raise Refused(
                f"{limit_reason(delivery.time_limit)} on attempt {reservation.attempts} of "
                f"{task.retries + 1}:\n{traceback_text(exc)}",
                exc,
            )
        raise Refused(
            f"raised on attempt {reservation.attempts} of {task.retries + 1}:\n{traceback_text(exc)}", exc
        )

    def _end_on(self, delivery: Delivery, exc: BaseException) -> None:
        """Decides the ending of a delivery a step ended with ``exc``, whatever it is."""
        if isinstance(exc, Refused):
            self._bury(delivery, exc.reason, exc.cause)
        elif isinstance(exc, BackendError):
            # The store failed while a step read it: leave the task to its lease.
            reservation = delivery.reservation
            delivery.reason = f"{type(exc).__name__}: {exc}"
            delivery.verdict = Leave(self.queue, reservation.task_id, reservation.receipt)
        elif isinstance(exc, Exception):
            # A bug of ours, or something no step foresaw: a payload that
            # trips it would trip it on every delivery.
            self._bury(delivery, f"could not be handled:\n{traceback_text(exc)}", exc)
        else:
            # KeyboardInterrupt, SystemExit... raised while opening or
            # importing: still the payload's doing, so settle it; an
            # in-process caller gets a KeyboardInterrupt back afterwards.
            if isinstance(exc, KeyboardInterrupt):
                delivery.interrupted = exc
            self._bury(delivery, f"could not be handled:\n{traceback_text(exc)}", exc)

    def _bury(self, delivery: Delivery, reason: str, cause: BaseException | None = None) -> None:
        reservation = delivery.reservation
        if delivery.task is not None:
            delivery.task.to_failed()
        delivery.reason = storable(reason)
        delivery.cause = cause
        # Signed for the store (when a secret is set); logs show it plain.
        stored = self.rules.policy.seal_reason(self.queue, reservation.task_id, delivery.reason)
        delivery.verdict = Bury(self.queue, reservation.task_id, reservation.receipt, stored)


def traceback_text(exc: BaseException) -> str:
    """The last :data:`TRACEBACK_FRAMES` frames of ``exc``'s traceback, as text for a dead letter."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-TRACEBACK_FRAMES))


def _unstorable_reason(err: Exception) -> str:
    """The dead letter's reason for a return value that cannot be stored as a result."""
    detail = str(err) if isinstance(err, NotSerializableError) else f"{type(err).__name__}: {err}"
    return f"returned a value JSON cannot carry: {detail}"
