"""The checks of :meth:`alligator_redis.RedisBackend.diagnose` (``alligator doctor``) and its loss risks.

For each server (on a Cluster, each primary, named):

- **persistence**: neither AOF nor RDB is an error (a restart loses every
  queued task); a failed last AOF write or RDB snapshot too;
- **eviction**: an ``allkeys-*`` ``maxmemory-policy`` is an error (queued
  tasks are keys like any other, and vanish); a ``volatile-*`` one a warning
  (only keys with an expiry go: results, statuses, the worker registry);
- **memory**: ``used_memory`` at :data:`MEMORY_ERROR` of ``maxmemory`` or
  more is an error (Redis refuses writes, or evicts, when it is full), at
  :data:`MEMORY_WARNING` a warning;
- **writes**: a probe key is written (``SET ... PX``) and deleted at once; a
  refusal (``OOM``, ``READONLY``, ``MISCONF``, ``NOREPLICAS``) is an error.

And for a Cluster, as one node sees it: ``cluster_state`` other than ``ok``
is an error (slots are not served); a node flagged ``fail`` or ``fail?`` is a
warning, and so is a master serving slots with no live replica when the
cluster has replicas (a failover used it up). A cluster built without
replicas is reported, not failed.

:func:`loss_risks` is the quick look producers and workers take at start.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from alligator.text import human_bytes
from alligator_redis.keys import probe_key

Finding = tuple[str, str, str]

#: Share of ``maxmemory`` in use from which doctor warns.
MEMORY_WARNING = 0.80
#: Share of ``maxmemory`` in use from which doctor reports an error.
MEMORY_ERROR = 0.95
#: Milliseconds the write probe's key lives if deleting it fails.
PROBE_TTL_MS = 60_000
#: How many hash tags are tried to find a probe key on each primary of a cluster.
PROBE_TAGS = 10_000

#: What to do when a restart would lose the queues.
_PERSIST = (
    "turn on AOF (appendonly yes, appendfsync everysec) or RDB snapshots "
    "(e.g. save 60 1000), or use a managed Redis with persistence on"
)
#: What to do about a write Redis refused, by the error's first word.
_REFUSED = {
    "OOM": "raise maxmemory or free memory (drain or purge queues: alligator info DSN shows what they "
    "hold); producers' enqueues fail meanwhile",
    "READONLY": "the DSN names a replica: give the primary's address",
    "MISCONF": "Redis cannot write its snapshot and refuses writes: free disk space in its dir or fix "
    "its permissions, and read its log",
    "NOREPLICAS": "fewer replicas than min-replicas-to-write are connected: bring them back",
}


def diagnose(client: Any) -> list[Finding]:
    """Every check, on one server or on each primary of a cluster.

    Raises:
        redis.RedisError: The server (a single one) cannot be reached.
    """
    if not isinstance(client, RedisCluster):
        return [*server_findings(client, "Redis: "), write_finding(client, "Redis: ", probe_key("doctor"))]
    findings = cluster_findings(client)
    for node in client.get_primaries():  # type: ignore[no-untyped-call]
        where = f"Redis node {node.name}: "
        try:
            findings += server_findings(node.redis_connection, where)
            findings.append(write_finding(node.redis_connection, where, _probe_key_on(client, node.name)))
        except (redis.ConnectionError, redis.TimeoutError) as err:
            findings.append(
                (
                    "error",
                    f"{where}does not answer ({err}): the queues on its slots can neither take nor hand "
                    "out tasks",
                    "restart it, or promote one of its replicas (CLUSTER FAILOVER FORCE on the replica)",
                )
            )
    return findings


def server_findings(client: redis.Redis, where: str) -> list[Finding]:
    """The findings of one server: persistence, eviction, then memory."""
    try:
        persistence = client.info("persistence")
        memory = client.info("memory")
    except redis.ResponseError as err:
        # A refusal (an ACL, a fake server), not an unreachable store.
        return [
            (
                "warning",
                f"{where}cannot read INFO ({err}), so persistence, eviction and memory are unchecked",
                "allow INFO for this user, or check appendonly, save, maxmemory and maxmemory-policy by hand",
            )
        ]
    return [*_persistence(client, persistence, where), _policy(memory, where), _memory(memory, where)]


def _save_schedule(client: redis.Redis) -> str | None:
    """The RDB ``save`` setting ("" when off), or None when CONFIG is refused (ACL, managed Redis)."""
    try:
        return str(client.config_get("save").get("save", ""))
    except redis.ResponseError:
        return None


def _persistence(client: redis.Redis, persistence: dict[str, Any], where: str) -> list[Finding]:
    findings: list[Finding] = []
    aof = str(persistence.get("aof_enabled", "0")) == "1"
    save = _save_schedule(client)
    if aof:
        status = str(persistence.get("aof_last_write_status", "ok"))
        if status != "ok":
            findings.append(
                (
                    "error",
                    f"{where}AOF is on but its last write failed ({status}): tasks may not survive a restart",
                    "check the server's disk space and log",
                )
            )
        else:
            findings.append(("ok", f"{where}persistence: AOF is on", ""))
    elif save == "":
        findings.append(
            (
                "error",
                f"{where}neither AOF nor RDB persistence is on: a restart loses every queued task",
                _PERSIST,
            )
        )
    elif save is None:
        changes = persistence.get("rdb_changes_since_last_save", "?")
        findings.append(
            (
                "warning",
                f"{where}AOF is off and CONFIG GET save is refused, so whether RDB snapshots are on is "
                f"unknown ({changes} changes since the last save): without them a restart loses every "
                "queued task",
                _PERSIST + "; confirm the snapshot schedule with your provider",
            )
        )
    else:
        findings.append(
            (
                "ok",
                f"{where}persistence: RDB snapshots only (save {save}): a crash loses the tasks queued "
                "since the last snapshot",
                "for at most a second of loss, turn on AOF (appendonly yes, appendfsync everysec)",
            )
        )
    if not aof and save != "" and str(persistence.get("rdb_last_bgsave_status", "ok")) != "ok":
        findings.append(
            (
                "error",
                f"{where}the last RDB snapshot failed: a restart loses what was queued since the one before",
                "check the server's disk space and log (MISCONF errors follow)",
            )
        )
    return findings


def _policy(memory: dict[str, Any], where: str) -> Finding:
    policy = str(memory.get("maxmemory_policy", "noeviction"))
    if policy.startswith("allkeys-"):
        return (
            "error",
            f"{where}maxmemory-policy is {policy}: eviction silently drops tasks",
            "set maxmemory-policy noeviction (a full Redis then refuses new tasks, "
            "and producers see the error), and give it enough memory",
        )
    if policy != "noeviction":
        return (
            "warning",
            f"{where}maxmemory-policy is {policy}: when memory is full, keys with an expiry are evicted: "
            "results, finished statuses and the live-worker registry may vanish early "
            "(queued tasks are kept)",
            "set maxmemory-policy noeviction, and give it enough memory",
        )
    return ("ok", f"{where}maxmemory-policy is noeviction", "")


def _memory(memory: dict[str, Any], where: str) -> Finding:
    used, limit = _int(memory.get("used_memory")), _int(memory.get("maxmemory"))
    if limit <= 0:
        return ("ok", f"{where}memory: {human_bytes(used)} used, no maxmemory limit", "")
    share = used / limit
    said = f"{where}memory is {share:.0%} full ({human_bytes(used)} of maxmemory {human_bytes(limit)})"
    what_to_do = (
        "raise maxmemory (and the machine's memory), or drain or purge queues, results and dead letters "
        "(alligator info DSN shows what they hold)"
    )
    if share >= MEMORY_ERROR:
        return ("error", f"{said}: when full, Redis refuses every new task (or evicts keys)", what_to_do)
    if share >= MEMORY_WARNING:
        return ("warning", f"{said}: a growing backlog will fill it", what_to_do)
    return ("ok", said, "")


def write_finding(client: redis.Redis, where: str, key: str) -> Finding:
    """Writes a probe key (``SET key 1 PX``) and deletes it: whether the server accepts writes."""
    try:
        client.set(key, "1", px=PROBE_TTL_MS)
    except redis.ResponseError as err:
        word, said = _refusal(err)
        if word == "NOPERM":
            return (
                "warning",
                f"{where}this user may not write the probe key {key} ({said}): writes were not checked",
                "run doctor as the workers' user, whose ACL allows alligator:* keys",
            )
        return (
            "error",
            f"{where}refuses writes ({said}): every enqueue, reservation and heartbeat fails",
            _REFUSED.get(word, "read the error and the server's log"),
        )
    # Deleted at once; PX removes it anyway if this delete never arrives.
    client.delete(key)
    return ("ok", f"{where}accepts a write (probe key written and deleted)", "")


def _refusal(err: redis.ResponseError) -> tuple[str, str]:
    """The error code of a refused write (redis-py strips some into classes) and the whole error."""
    text = str(err)
    for kind, word in (
        (redis.exceptions.OutOfMemoryError, "OOM"),
        (redis.exceptions.ReadOnlyError, "READONLY"),
        (redis.exceptions.NoPermissionError, "NOPERM"),
    ):
        if isinstance(err, kind):
            return word, text if text.startswith(word) else f"{word} {text}"
    return text.split(" ", 1)[0].upper(), text


def _probe_key_on(client: RedisCluster, node_name: str) -> str:
    """A probe key whose slot the node owns (a node refuses keys of other slots with MOVED)."""
    for n in range(PROBE_TAGS):
        key = probe_key(f"doctor-{n}")
        if client.get_node_from_key(key).name == node_name:  # type: ignore[no-untyped-call]
            return key
    return probe_key("doctor")  # a node without slots: the write is refused with MOVED, and reported


def cluster_findings(client: RedisCluster) -> list[Finding]:
    """The cluster's state, its failed nodes and its masters without a replica, as one node sees them."""
    nodes = client.get_nodes()  # type: ignore[no-untyped-call]
    last: Exception | None = None
    for node in nodes:
        try:
            info = node.redis_connection.cluster("info")
            text = node.redis_connection.execute_command("CLUSTER", "NODES")
        except (redis.ConnectionError, redis.TimeoutError) as err:
            last = err
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return _cluster_health(info, str(text), node.name)
    return [("error", f"Redis Cluster: no node answers ({last})", "start the cluster's nodes")]


def _cluster_health(info: dict[str, Any], text: str, asked: str) -> list[Finding]:
    findings: list[Finding] = []
    state = str(info.get("cluster_state", "?"))
    if state != "ok":
        findings.append(
            (
                "error",
                f"Redis Cluster: cluster_state is {state} ({info.get('cluster_slots_ok', '?')} of 16384 "
                f"slots served, {info.get('cluster_slots_fail', '?')} failed): queues on the slots not "
                "served can neither take nor hand out tasks",
                "bring the failed nodes back, or promote a replica (CLUSTER FAILOVER FORCE on it); "
                "redis-cli --cluster check HOST:PORT shows the slots",
            )
        )
    nodes = [fields for line in text.splitlines() if len(fields := line.split()) >= 8]
    failed = [f for f in nodes if {"fail", "fail?"} & set(f[2].split(","))]
    if failed:
        named = ", ".join(
            f"{f[1].split('@')[0]} ({'master' if 'master' in f[2] else 'replica'}, "
            f"{'fail' if 'fail' in f[2].split(',') else f'unreachable from {asked} (fail?)'})"
            for f in failed
        )
        findings.append(
            (
                "warning",
                f"Redis Cluster: {len(failed)} node{'s are' if len(failed) != 1 else ' is'} marked failed: "
                f"{named}",
                "restart it (it rejoins as a replica) or remove it for good (redis-cli --cluster del-node)",
            )
        )
    failed_ids = {f[0] for f in failed}
    replicas: dict[str, int] = {}
    for f in nodes:
        if "slave" in f[2].split(",") and f[0] not in failed_ids:
            replicas[f[3]] = replicas.get(f[3], 0) + 1
    masters = [f for f in nodes if "master" in f[2].split(",") and f[0] not in failed_ids and _slots(f)]
    alone = [f for f in masters if not replicas.get(f[0])]
    # A failed master without slots was failed over: the cluster had replicas.
    built_with_replicas = any("slave" in f[2].split(",") or (f in failed and not _slots(f)) for f in nodes)
    if alone and built_with_replicas:
        findings.append(
            (
                "warning",
                "Redis Cluster: no replica left for "
                + "; ".join(f"slots {_slots(f)} (node {f[1].split('@')[0]})" for f in alone)
                + ": if that master fails, the queues on those slots stop until it is back",
                "add a replica (redis-cli --cluster add-node NEW HOST:PORT --cluster-slave), or restart the "
                "failed node, which rejoins as one",
            )
        )
    elif not findings:
        findings.append(
            (
                "ok",
                f"Redis Cluster: state ok, {len(masters)} masters, "
                + (
                    "each with a replica"
                    if not alone
                    else "none with a replica (a failed master stops the queues on its slots "
                    "until it is back)"
                ),
                "",
            )
        )
    return findings


def _slots(fields: list[str]) -> str:
    """A node's slot ranges, as CLUSTER NODES lists them (migrations, in brackets, left out)."""
    return ",".join(part for part in fields[8:] if not part.startswith("["))


def loss_risks(client: Any) -> list[tuple[str, str]]:
    """The settings that lose accepted tasks: ``("eviction" | "no-persistence", problem)`` per server.

    What cannot be read (INFO or CONFIG refused) is not a risk here; doctor
    reports it.

    Raises:
        redis.RedisError: A server cannot be reached.
    """
    if isinstance(client, RedisCluster):
        servers = [
            (f"Redis node {node.name}: ", node.redis_connection)
            for node in client.get_primaries()  # type: ignore[no-untyped-call]
        ]
    else:
        servers = [("Redis: ", client)]
    risks: list[tuple[str, str]] = []
    for where, server in servers:
        try:
            persistence = server.info("persistence")
            memory = server.info("memory")
        except redis.ResponseError:
            continue
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        if policy.startswith("allkeys-"):
            risks.append(
                (
                    "eviction",
                    f"{where}maxmemory-policy is {policy}: when its memory is full Redis evicts keys, "
                    "queued tasks included, and accepted tasks vanish",
                )
            )
        if str(persistence.get("aof_enabled", "0")) != "1" and _save_schedule(server) == "":
            risks.append(
                (
                    "no-persistence",
                    f"{where}neither AOF nor RDB persistence is on: a restart loses every queued task",
                )
            )
    return risks


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
