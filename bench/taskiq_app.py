"""The same workload for taskiq (taskiq-redis's ListQueueBroker); ``taskiq worker taskiq_app:broker``.

taskiq's tasks are coroutines: the round trip is made with redis.asyncio, as a
taskiq user writes it (a blocking call would stall its 100 tasks at once).
taskiq drops a message from Redis when it takes it, not when it finished, so
a middleware counts finished tasks into the stamps db (a few INCRBYs a
millisecond at most, not one per task) for the bench to time the drain.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import bench_tasks
import redis.asyncio
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq_redis import ListQueueBroker

#: Where the workers count the tasks they finished (in the stamps db).
FINISHED_KEY = "bench:taskiq:finished"

_client: redis.asyncio.Redis | None = None


def _stamps() -> redis.asyncio.Redis:
    global _client
    if _client is None:
        _client = redis.asyncio.Redis.from_url(os.environ["BENCH_STAMPS_URL"])
    return _client


class CountFinished(TaskiqMiddleware):
    """Adds up finished tasks and flushes the count every millisecond."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0
        self._flusher: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.broker.is_worker_process:
            self._flusher = asyncio.create_task(self._flush())

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        self.pending += 1

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            if self.pending:
                done, self.pending = self.pending, 0
                await _stamps().incrby(FINISHED_KEY, done)


broker = ListQueueBroker(os.environ["BENCH_TASKIQ_URL"]).with_middlewares(CountFinished())


@broker.task
async def noop() -> None:
    bench_tasks.noop()


@broker.task
async def roundtrip() -> int:
    return int(await _stamps().incr("bench:roundtrip"))


@broker.task
async def stamp(key: str) -> None:
    bench_tasks.stamp(key)
