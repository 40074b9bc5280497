"""What a worker reads: the same rules as the producer, applied to a payload from a possibly hostile store.

Anyone who can write to the store can plant a payload, so everything the
producer refuses at enqueue is refused again when a payload is read, as
:class:`~alligator.exceptions.InvalidPayloadError` with the reason (the
worker dead-letters it with that reason).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alligator import Task
from alligator.exceptions import InvalidPayloadError
from alligator.payload import loads


def _payload(**fields: Any) -> str:
    body: dict[str, Any] = {"task_id": "t1", "module": "sample_tasks", "callable": "noop", "retries": 0}
    body.update(fields)
    return json.dumps(body)


# -- finding 9: one JSON dialect on both sides ------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_the_worker_refuses_numbers_the_producer_refuses(number: str) -> None:
    text = '{"task_id": "t1", "module": "sample_tasks", "callable": "record", "retries": 0, "args": [%s]}'
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        loads(text % number)
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        Task.deserialize(text % number)


def test_finite_numbers_still_read() -> None:
    assert loads('{"a": [1.5, -1e308, 0, 10]}') == {"a": [1.5, -1e308, 0, 10]}
