"""New task ids (issue 20): random as a UUID4, read from the OS in blocks, never shared with a fork.

A worker reading a task from its payload made a new random id for it and
then overwrote it with the payload's: a ``getrandom`` call per task that
let go of the GIL, and with it the dispatch thread's turn, so at
concurrency 1 the buffer of tiny tasks ran dry and the task thread reserved
each batch itself, in series with the tasks.
"""

from __future__ import annotations

import os
import string

import pytest
import sample_tasks

from alligator import Gator, Task, ids


class _CountingRandom:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = os.urandom

        def urandom(size: int) -> bytes:
            self.calls += 1
            return real(size)

        monkeypatch.setattr(os, "urandom", urandom)


def test_ids_are_128_random_bits_as_32_hex_digits_never_repeated() -> None:
    drawn = [ids.new_task_id() for _ in range(20 * ids.IDS_PER_READ)]
    assert len(set(drawn)) == len(drawn)
    assert all(len(i) == 32 and set(i) <= set(string.hexdigits.lower()) for i in drawn)
    assert len({Task().task_id for _ in range(1000)}) == 1000


def test_new_tasks_read_the_os_random_source_once_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = _CountingRandom(monkeypatch)
    gator = Gator("locmem://ids-block", allow=["sample_tasks"])
    for _ in range(10 * ids.IDS_PER_READ):
        gator.task(sample_tasks.noop)
    tasks = 10 * ids.IDS_PER_READ
    assert counting.calls <= 11, f"{counting.calls} reads of the random source for {tasks} tasks"


def test_reading_a_task_from_its_payload_makes_no_new_id(monkeypatch: pytest.MonkeyPatch) -> None:
    gator = Gator("locmem://ids-read", allow=["sample_tasks"])
    queued = gator.task(sample_tasks.noop)
    [held] = gator.backend.reserve(gator.queue_name, 30.0)
    counting = _CountingRandom(monkeypatch)
    ids._POOL.clear()  # an empty pool: any new id would read the source
    task = gator.task_class.deserialize(gator.policy.open(held.payload))
    assert task.task_id == queued.task_id
    assert counting.calls == 0


def test_a_forked_child_never_hands_out_its_parents_ids() -> None:
    ids._POOL.clear()
    ids.new_task_id()  # the parent's pool now holds the next ids of its block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, ",".join(ids.new_task_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [ids.new_task_id() for _ in range(3)]
    assert len(child) == 3
    assert not set(child) & set(parent), "the child repeated ids its parent handed out"
