"""Schedules proved with real processes, on SQLite, Redis and PostgreSQL: each tick enqueued exactly once.

Four ``latergator --schedules`` processes run an ``every=2`` schedule on one
store while one of them is SIGKILLed and restarted every few seconds; the
test consumes the ticks itself and finds every tick once, none missing
(:mod:`schedule_proof`). The short form runs by default; the soak runs for
minutes. The Redis Cluster form is in the Redis plugin's cluster tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from reliability_helpers import ON_EVERY_STORE, Store, Workers, report
from schedule_proof import prove_each_tick_once

pytestmark = ON_EVERY_STORE


def _pool(store: Store, workers: Callable[..., Workers]) -> Workers:
    ticks = f"{store.queue}-ticks-{uuid.uuid4().hex[:6]}"
    return workers(store, "--schedules", "proof_schedules", env={"PROOF_TICK_QUEUE": ticks})


def test_four_schedulers_killed_and_restarted_enqueue_each_tick_once(
    store: Store, workers: Callable[..., Workers], precompiled: None
) -> None:
    figures = prove_each_tick_once(store, _pool(store, workers), seconds=20, kill_every=5)
    report("schedules_short", store=store.name, **figures)


@pytest.mark.soak
def test_four_schedulers_for_minutes_with_kills_enqueue_each_tick_once(
    store: Store, workers: Callable[..., Workers], precompiled: None
) -> None:
    figures = prove_each_tick_once(store, _pool(store, workers), seconds=240, kill_every=4)
    report("schedules_soak", store=store.name, **figures)
