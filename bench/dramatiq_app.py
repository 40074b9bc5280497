"""The same workload for Dramatiq (RedisBroker); its CLI imports ``dramatiq_app``."""

from __future__ import annotations

import os

import bench_tasks
import dramatiq
from dramatiq.brokers.redis import RedisBroker

dramatiq.set_broker(RedisBroker(url=os.environ["BENCH_DRAMATIQ_URL"]))


@dramatiq.actor
def noop() -> None:
    bench_tasks.noop()


@dramatiq.actor
def roundtrip() -> None:
    bench_tasks.roundtrip()


@dramatiq.actor
def stamp(key: str) -> None:
    bench_tasks.stamp(key)
