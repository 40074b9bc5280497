"""Reserve and ack send each Redis command once per batch, not once per task (issue 20).

A call from Lua costs Redis about as much as the work on one member, and
Redis's time per task is what limits every worker on it: the reserve and ack
scripts read and write a whole batch with one command each. Counted on a
private server's command statistics, so nothing else adds to them.
"""

from __future__ import annotations

import json

import redis
from redis_servers import RedisServer

from alligator import Gator, capabilities
from alligator.store_values import Ack
from alligator_redis.keys import queue_keys

BATCH = 100


def _calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _filled(server: RedisServer) -> tuple[Gator, redis.Redis]:
    gator = Gator(server.url(0), queue_name="batches", allow=["json"])
    with gator.batch() as batch:
        for n in range(BATCH):
            batch.task(json.dumps, n)
    client = redis.Redis.from_url(server.url(0))
    client.config_resetstat()
    return gator, client


def test_a_batch_is_reserved_and_acked_with_a_few_commands(private_redis: RedisServer) -> None:
    gator, client = _filled(private_redis)
    held = gator.backend.reserve("batches", 30.0, BATCH)
    assert [r.attempts for r in held] == [1] * BATCH
    assert len({r.receipt for r in held}) == BATCH
    reserved = _calls(client)
    client.config_resetstat()
    acks = [Ack(r.task_id, r.receipt, json.dumps(n), 60.0) for n, r in enumerate(held)]
    assert capabilities.results(gator.backend).ack_results("batches", acks) == BATCH
    acked = _calls(client)
    # Per task: one HSTRLEN (a payload is measured before it is read) and
    # one ZSCORE (a receipt's lease); every other command once per batch.
    for name in ("hset", "zadd", "hdel", "hmget", "zrem", "get", "set"):
        assert reserved.get(name, 0) <= 4, (name, reserved)
        assert acked.get(name, 0) <= 6, (name, acked)
    assert reserved.get("hstrlen", 0) == BATCH
    assert acked.get("zscore", 0) == BATCH
    assert [gator.result(r.task_id) for r in held] == list(range(BATCH))
    assert gator.len() == 0
    client.close()


def test_an_id_twice_in_one_ack_batch_is_acked_once(private_redis: RedisServer) -> None:
    gator, client = _filled(private_redis)
    first, second = gator.backend.reserve("batches", 30.0, 2)
    twice = [Ack(first.task_id, first.receipt, None, 60.0)] * 2 + [Ack(second.task_id, "stale", None, 60.0)]
    assert capabilities.results(gator.backend).ack_results("batches", twice) == 1
    assert (
        capabilities.results(gator.backend).ack_results(
            "batches", [Ack(second.task_id, second.receipt, None, 60.0)]
        )
        == 1
    )
    client.close()


def test_unreadable_records_in_a_batch_are_buried_alone_and_the_rest_keep_their_order(
    private_redis: RedisServer,
) -> None:
    gator, client = _filled(private_redis)
    keys = queue_keys("batches")
    members: list[bytes] = client.zrange(keys["pending"], 0, -1)  # type: ignore[assignment]
    order = [m.decode().split(":", 1)[1] for m in members]
    client.hset(keys["payloads"], order[3], b"\xff\xfe not utf-8")
    client.hset(keys["attempts"], order[5], "lots")
    client.hdel(keys["payloads"], order[7])
    held = gator.backend.reserve("batches", 30.0, 10)
    assert [r.task_id for r in held] == [order[n] for n in range(10) if n not in (3, 5, 7)]
    assert len({r.receipt for r in held}) == len(held)
    buried = {letter.task_id for letter in gator.dead_letters()}
    assert buried == {order[3], order[5], order[7]}
    client.close()
