"""Settling a task whose child was killed for its time limit (``python -m alligator.supervisor --settle``).

The supervisor never opens the store; this short-lived process does, once
per killed task, and exits.
"""

from __future__ import annotations

from typing import Any


def settle_killed(order: dict[str, Any]) -> str:
    """Settles a task whose process was killed for its time limit, as a failure.

    Runs in the short-lived ``python -m alligator.supervisor --settle``
    process: the supervisor itself never opens the store. The failure goes
    through the delivery steps' own rules (:meth:`DeliverySteps.fail
    <alligator.delivery.DeliverySteps.fail>`), so the task is retried after
    its backoff while it has retries left and dead-lettered after, like a
    task that raised; its kill is not counted as a crash. The verdict is
    applied by a :class:`~alligator.settler.Settler`, as a worker's is.
    The task's ``on_killed`` hook, if it names one, is called here, the
    process that records its failure: once the verdict is decided and just
    before it is applied, as a worker calls ``on_error`` before it settles.

    Args:
        order: ``argv`` (the children's arguments), ``queue``, ``task_id``,
            ``receipt``, ``attempt`` and ``reason``.

    Returns:
        The outcome (an ``Outcome`` value), or ``"gone"`` when the task had
        already left the queue.
    """
    from alligator.backend import Reservation
    from alligator.delivery import DeliveryRules, DeliverySteps
    from alligator.exceptions import TimeLimitExceeded
    from alligator.gator import Gator
    from alligator.registry import dsn_or_env
    from alligator.settler import Settler
    from alligator.worker_arguments import add_import_paths, build_parser, run_setup

    args = build_parser().parse_args(order["argv"])
    # As in the children: a setup module may set ALLIGATOR_ALLOW or the secret
    # the payload is opened with (the task's own code is never imported).
    add_import_paths(args.path)
    if args.setup:
        run_setup(args.setup)
    queue, task_id = order["queue"], order["task_id"]
    # As latergator reads it: the DSN may come from ALLIGATOR_DSN (manage.py
    # latergator passes it so, out of `ps`'s sight), not the arguments.
    gator = Gator(
        dsn_or_env(args.dsn) or "",
        queue_name=queue,
        allow=args.allow,
        max_payload_bytes=args.max_payload_bytes,
    )
    try:
        payload = gator.backend.peek(queue, task_id)
        if payload is None:
            return "gone"
        attempt = int(order["attempt"])
        # The child admitted this delivery before it ran it: count the earlier
        # ones as failures, so the unfinished-deliveries cap is not tripped here.
        reservation = Reservation(task_id, payload, order["receipt"], attempt, max(0, attempt - 1))
        steps = DeliverySteps(
            gator.backend, queue, DeliveryRules(gator.policy, args.max_deliveries, gator.task_class)
        )
        delivery = steps.open(reservation)
        if not delivery.decided:
            # The rules a task that raised goes through: retry with backoff
            # while it has retries left, else the dead letters.
            killed = TimeLimitExceeded(order["reason"])
            steps.fail(delivery, killed)
            steps.call_killed_hook(delivery, killed)
        return Settler(gator.backend).settle(delivery).value
    finally:
        gator.backend.close()
