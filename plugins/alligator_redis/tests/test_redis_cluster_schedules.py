"""Schedules on a real Redis Cluster: four ``latergator --schedules`` processes, SIGKILLed and restarted,
enqueue each ``every=2`` tick exactly once (the proof of ``tests/reliability/schedule_proof.py``).

A tick's push and its record are one script on the node of the queue's hash
slot; this proves it holds with the cluster client and real processes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from reliability_helpers import Store, Workers, report
from reliability_tasks import Ledger
from schedule_proof import prove_each_tick_once

pytestmark = pytest.mark.cluster


def test_four_schedulers_on_a_cluster_enqueue_each_tick_once(redis_cluster: str, tmp_path: Path) -> None:
    queue = f"cl-{uuid.uuid4().hex[:10]}"
    store = Store("redis", redis_cluster, queue)
    logs = tmp_path / "logs"
    logs.mkdir()
    pool = Workers(
        store,
        Ledger(str(tmp_path / "ledger.txt")),
        logs,
        ("--schedules", "proof_schedules"),
        env={"PROOF_TICK_QUEUE": f"{queue}-ticks"},
    )
    figures = prove_each_tick_once(store, pool, seconds=20, kill_every=5)
    report("schedules_cluster", store="redis-cluster", **figures)
