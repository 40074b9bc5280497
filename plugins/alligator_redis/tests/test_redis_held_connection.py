"""The producer's own connection (alligator_redis.held): fast, and never a reason to lose or double a push.

A push goes down one connection the backend keeps beside the pool. These
tests break it in each way it can break (the socket dies, the server
forgets its scripts, an error reply, threads racing for it, a fork) and
check that every push still lands exactly once or says it did not.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from redis_servers import RedisServer

from alligator.exceptions import BackendError
from alligator_redis import RedisBackend

pytestmark = pytest.mark.redis


@pytest.fixture
def queue() -> str:
    return f"held-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def backend(redis_url: str, queue: str) -> Iterator[RedisBackend]:
    made = RedisBackend(redis_url)
    assert made._direct, "a plain redis-py client pushes on the held connection"
    yield made
    made.drop_all(queue)
    made.close()


def test_pushes_go_down_one_connection_kept_aside(backend: RedisBackend, queue: str) -> None:
    assert backend.push(queue, "a", "{}") is True
    conn = backend._held._conn
    assert conn is not None
    assert backend.push(queue, "b", "{}") is True
    assert backend._held._conn is conn
    assert conn not in backend.client.connection_pool._available_connections  # type: ignore[union-attr]
    assert backend.push(queue, "a", "{}") is False, "the unique-id rule holds on this path too"
    assert backend.len(queue) == 2


def test_a_dead_socket_costs_no_push(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "before", "{}")
    backend._held._conn._sock.shutdown(socket.SHUT_RDWR)
    assert backend.push(queue, "during", "{}") is True, "sent again on the pool, once"
    assert backend.push(queue, "after", "{}") is True
    assert backend._held._conn is not None, "opened afresh"
    assert backend.len(queue) == 3


def test_an_error_reply_leaves_the_connection_usable(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "first", "{}")
    conn = backend._held._conn
    backend.clock = lambda: float("nan")  # the script refuses a clock that is no number
    with pytest.raises(BackendError, match="not queued"):
        backend.push(queue, "refused", "{}")
    backend.clock = None
    assert backend.push(queue, "second", "{}") is True
    assert backend._held._conn is conn, "an error reply is read in full: no reconnect"
    assert backend.len(queue) == 2


def test_a_flushed_script_cache_is_loaded_again(private_redis: RedisServer) -> None:
    backend = RedisBackend(private_redis.url())
    try:
        backend.push("flushed", "a", "{}")
        backend.client.script_flush()
        assert backend.push("flushed", "b", "{}") is True
        assert backend.push("flushed", "c", "{}") is True
        assert backend.len("flushed") == 3
    finally:
        backend.close()


def test_threads_racing_for_it_each_push_once(backend: RedisBackend, queue: str) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def producer(n: int) -> None:
        for i in range(100):
            added = backend.push(queue, f"{n}-{i}", "{}")
            with lock:
                results.append(added)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 600
    assert backend.len(queue) == 600


def _push_in_child(queue: str, backend: RedisBackend, out: multiprocessing.Queue) -> None:
    out.put(backend.push(queue, "child", "{}"))


def test_a_forked_child_opens_its_own(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "parent-1", "{}")
    parent_conn = backend._held._conn
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_push_in_child, args=(queue, backend, out))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and out.get(timeout=5) is True
    assert backend.push(queue, "parent-2", "{}") is True, "the parent's connection was left alone"
    assert backend._held._conn is parent_conn
    assert backend.len(queue) == 3


def test_close_closes_it_and_the_next_push_opens_another(backend: RedisBackend, queue: str) -> None:
    backend.push(queue, "a", "{}")
    backend.close()
    assert backend._held._conn is None
    assert backend.push(queue, "b", "{}") is True
    assert backend.len(queue) == 2


def test_a_health_check_interval_is_kept_on_it(redis_url: str, queue: str) -> None:
    """With health_check_interval the push goes through redis-py's connection,
    which PINGs one idle that long first; the pushes land all the same."""
    backend = RedisBackend(f"{redis_url}?health_check_interval=1")
    try:
        assert backend._held._raw is False
        assert backend.push(queue, "a", "{}") is True
        backend._held._conn.next_health_check = 0  # as if idle for long
        assert backend.push(queue, "b", "{}") is True
        assert backend.len(queue) == 2
    finally:
        backend.drop_all(queue)
        backend.close()
