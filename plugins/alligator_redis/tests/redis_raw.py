"""Writing and reading a queue's keys straight, as anyone with access to Redis can.

The contract kit's ``plant_raw_payload`` fixture, and snapshots of a queue's
keys that show a failed script changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alligator import capabilities
from alligator.backend import Backend
from alligator.constants import FAILED
from alligator_redis import RedisBackend
from alligator_redis.keys import queue_keys


def plant(backend: RedisBackend, queue: str, task_id: str, data: bytes) -> None:
    """Writes a waiting task, due now, whose payload is exactly ``data``, bypassing push().

    Args:
        backend: The backend whose store gets the record.
        queue: The queue's name.
        task_id: The task's id.
        data: The payload's bytes, UTF-8 or not.
    """
    keys = queue_keys(queue)
    client = backend.client
    member = f"{int(client.incr(keys['seq'])):016d}:{task_id}"
    client.hset(keys["payloads"], task_id, data)
    client.zadd(keys["pending"], {member: backend.now()})
    client.hset(keys["members"], task_id, member)


def snapshot(backend: RedisBackend, queue: str) -> dict[str, tuple[bytes | None, int]]:
    """Every key of a queue: its serialized value (``DUMP``) and time to live."""
    client = backend.client
    return {name: (client.dump(key), int(client.pttl(key))) for name, key in queue_keys(queue).items()}


class RedisFixtures:
    """The fixtures the contract kit asks a backend's test class for, written for Redis."""

    @pytest.fixture
    def plant_raw_payload(self, backend: RedisBackend) -> Callable[[str, str, bytes], None]:
        """``plant(queue, task_id, data)``: a waiting, due-now task with exactly these payload bytes."""

        def plant_in_backend(queue: str, task_id: str, data: bytes) -> None:
            plant(backend, queue, task_id, data)

        return plant_in_backend

    @pytest.fixture
    def plant_raw_result(self, backend: RedisBackend) -> Callable[[str, str, bytes], None]:
        """``plant(queue, task_id, data)``: a kept result's stored bytes replaced, its TTL left alone."""

        def plant_result(queue: str, task_id: str, data: bytes) -> None:
            backend.client.hset(queue_keys(queue)["results"], f"v:{task_id}", data)

        return plant_result


class PlantedRecords:
    """What the kit will check with ``plant_raw_payload``, run here before the kit has it."""

    def test_planted_unreadable_records_are_dead_lettered_alone(
        self, clocked_backend: Backend, queue: str, plant_raw_payload: Callable[[str, str, bytes], None]
    ) -> None:
        clocked_backend.max_payload_bytes = 64
        clocked_backend.push(queue, "ok1", "fine")
        plant_raw_payload(queue, "bad", b"\xff\xfe not UTF-8")
        plant_raw_payload(queue, "big", "é".encode() * 40)
        plant_raw_payload(queue, "nul", b"a\x00b")
        clocked_backend.push(queue, "ok2", "fine")
        got = clocked_backend.reserve(queue, 30.0, 10)
        assert [(r.task_id, r.payload) for r in got] == [("ok1", "fine"), ("nul", "a\x00b"), ("ok2", "fine")]
        letters = {d.task_id: d for d in capabilities.administration(clocked_backend).dead_letters(queue)}
        assert {key: d.reason for key, d in letters.items()} == {
            "bad": "payload is not valid UTF-8",
            "big": "payload is 80 bytes, over the limit of 64",
        }
        assert letters["bad"].payload == b"\xff\xfe not UTF-8".decode("utf-8", "replace")
        assert letters["big"].payload == "é" * 32
        assert all(
            d.attempts == 1 and clocked_backend.status(queue, key) == FAILED for key, d in letters.items()
        )
        assert clocked_backend.peek(queue, "bad") is None and clocked_backend.peek(queue, "big") is None
