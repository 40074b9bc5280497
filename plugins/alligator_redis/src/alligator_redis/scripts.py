r"""The Lua scripts of the Redis backend: one script per multi-key step, one file each.

Each script is a file in ``alligator_redis/lua/`` (``push.lua``,
``reserve.lua``...), read with ``importlib.resources`` when the script first
runs (:class:`Script`).
A script file is plain Lua with its own comments, plus three conventions
the loader resolves, so a reader can follow it by hand:

- ``-- KEYS: pending members ...``: the names of the keys it takes, in the
  order the backend passes them (``Script.keys``). The loader starts the
  script with one line binding every key name of the layout
  (:mod:`alligator_redis.keys`) to a Lua local of the same name:
  ``KEYS[n]`` for the keys it takes, ``false`` for the others, so no script
  addresses ``KEYS[n]`` by position, and a helper that uses a key its script
  did not declare fails loudly.
- ``-- include: pending.lua``: the line is replaced by that file of shared
  helpers (which may include others first); each file is included once per
  script, and a script includes only the helpers it uses (Lua builds every
  function of a script on every call, so the push hot path stays small).
- ``__NAME__``: a constant of this module (:data:`PLACEHOLDERS`); an unknown
  one fails at load. The reason texts a script writes into a dead letter are
  the core's templates (:data:`alligator.reasons.LUA_TEMPLATES`), given as
  Lua strings and formatted with ``string.format(__TOO_LARGE__, __PAYLOAD__,
  size, max)``: the words are written once, in :mod:`alligator.reasons`,
  while the script still measures a record and dead-letters it in its own
  atomic step.

Every script touches only the keys of one queue, passed in ``KEYS``; they all
carry the queue's hash tag, so a script runs atomically on one node, even on
Redis Cluster. ``ARGV[1]`` of every script that needs the time is either
empty (use the server's ``TIME``) or a number (the backend's injected
clock), so one clock decides every due time and deadline.

The key layout of a queue, and why every key carries its hash tag, is in
:mod:`alligator_redis.keys`.

An id is in ``dead_order`` or in the live structures, never both: push
refuses a dead letter's id, and requeue refuses an id that is live.

Dead letters are kept within ``max_dead_letters`` per queue and
``dead_letter_ttl`` seconds: every script that writes one (reserve, get,
dead_letter) takes both as arguments and trims ``dead_order`` oldest first in
the same step (``retain``), so a flood of failures cannot fill the server's
memory. The backend lists queues with ``SCAN`` for ``payloads`` and
``dead_order`` keys, which exist exactly while a queue holds a live task or
a dead letter (``queue_of`` reads the name back from the hash tag).

Why a sequence number in front of each ``pending`` member: a sorted set
orders equal scores by member, so the zero-padded sequence makes tasks with
the same due time (a batch pushed in one script) come out in push order. A
fresh counter (a new queue, or one emptied by ``drop_all``) starts from the
server's time in microseconds, so a receipt handed out before ``drop_all``
never matches one handed out after it.

Redis does not roll back a script that fails half-way, so every script
checks every argument before its first write (an error then changes nothing).
Numbers stored in a record (attempts, failures, the sequence counter) are
input too: read and checked before any write, and written back as computed
values, never with HINCRBY/INCRBY on a value nobody checked. A record whose
count is no whole number is dead-lettered, alone, as corrupt. The one
exception is push's sequence number (the producer's hot path, one command
fewer): ``redis.pcall('INCR', seq)``, whose refusal changes nothing and
cannot stop the script, and whose result is checked after and replaced (from
the server's clock, as ``next_seq`` starts a counter) when it is no usable
number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources

from alligator import reasons
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.limit_store import MAX_RATE_HORIZON

# The key layout lives in keys.py; re-exported here, where tests and tools found it first.
from alligator_redis.keys import KEY_NAMES as KEY_NAMES
from alligator_redis.keys import TAG_ESCAPE as TAG_ESCAPE
from alligator_redis.keys import WORKER_KEYS as WORKER_KEYS
from alligator_redis.keys import hash_tag as hash_tag
from alligator_redis.keys import queue_keys as queue_keys
from alligator_redis.keys import queue_of as queue_of

#: At most this many wake-up tokens wait in a queue's ``wake`` list, enough to
#: start that many blocked workers at once; reserve passes the baton on.
WAKE_CAP = 16
#: Expired leases moved back to ``pending`` by one reserve call.
RECLAIM_LIMIT = 1000
#: Dead letters past their time dropped at most per dead letter written: a
#: backlog (after the TTL was shortened) shrinks a batch at a time.
RETAIN_BATCH = 100
#: Expired results dropped at most per ack script.
RESULT_TRIM = 100
#: Seconds the native expiry of the result keys (and of the worker registry)
#: reaches past the longest TTL written: a safety net, never what decides.
RESULT_GRACE = 86400
#: The longest native expiry of that safety net, in milliseconds (about 30
#: years): a TTL longer than that (or one PEXPIRE cannot hold) gets this.
NET_CAP_MS = 10**12
#: Expired worker records dropped at most per heartbeat.
WORKER_SWEEP = 100
#: Milliseconds the native expiry of a limit's keys reaches past the last time
#: in them (see :mod:`alligator_redis.limits`).
LIMIT_GRACE_MS = 60_000


def lua_string(text: str) -> str:
    """A Lua string literal of ``text``, which must be printable ASCII (as every reason's template is).

    Raises:
        ValueError: ``text`` holds anything else.
    """
    if not (text.isascii() and text.isprintable()):
        raise ValueError(f"a Lua text placeholder must be printable ASCII, not {text!r}")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: The values of the ``__NAME__`` placeholders the Lua files may use: numbers,
#: and the core's reason templates as Lua strings.
PLACEHOLDERS: dict[str, object] = {
    "WAKE_CAP": WAKE_CAP,
    "RECLAIM": RECLAIM_LIMIT,
    "RETAIN_BATCH": RETAIN_BATCH,
    "RESULT_TRIM": RESULT_TRIM,
    "RESULT_GRACE": RESULT_GRACE,
    "NET_CAP": NET_CAP_MS,
    "SWEEP": WORKER_SWEEP,
    "LIMIT_GRACE_MS": LIMIT_GRACE_MS,
    "LIMIT_HORIZON": int(MAX_RATE_HORIZON),
    "WAITING": WAITING,
    "RUNNING": RUNNING,
    "DELAYED": DELAYED,
    "SUCCESS": SUCCESS,
    "FAILED": FAILED,
    **{name: lua_string(text) for name, text in reasons.LUA_TEMPLATES.items()},
}


class Script:
    """One step: its name, the key names it takes (in ``KEYS`` order) and its Lua source.

    The file is read, and its includes resolved, when ``keys`` or ``source``
    is first asked for: a process reads only the scripts it runs (a worker
    about a dozen of the fifty; issue 20, the worker's RSS).

    Args:
        name: The script's name, its file's name without ``.lua``.
        layout: Every key name of its family: a queue's by default, the
            worker registry's or the pauses' for theirs.

    Raises:
        ValueError: When ``keys`` or ``source`` is first asked for: the
            file, an included file, or its ``-- KEYS:`` line is missing, or
            it names a key outside ``layout`` or an unknown placeholder.
    """

    __slots__ = ("_read", "layout", "name")

    def __init__(self, name: str, layout: Sequence[str] = KEY_NAMES) -> None:
        self.name = name
        self.layout = tuple(layout)
        self._read: tuple[tuple[str, ...], str] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The key names it takes, in ``KEYS`` order (its ``-- KEYS:`` line)."""
        return self._resolved()[0]

    @property
    def source(self) -> str:
        """Its Lua source as sent to Redis: includes, keys and placeholders resolved."""
        return self._resolved()[1]

    @property
    def read(self) -> bool:
        """Whether its file has been read yet."""
        return self._read is not None

    def _resolved(self) -> tuple[tuple[str, ...], str]:
        # Two threads asking at once both read the file and get the same
        # answer; the second assignment changes nothing.
        found = self._read
        if found is None:
            found = self._read = _resolve(self.name, self.layout)
        return found

    def __repr__(self) -> str:
        return f"Script({self.name!r})"


_KEYS_LINE = re.compile(r"^-- KEYS:(.*)$", re.M)
_INCLUDE = re.compile(r"^-- include: (\S+)$", re.M)
_PLACEHOLDER = re.compile(r"__([A-Z][A-Z0-9_]*)__")


def _read(file: str) -> str:
    """The text of one file of ``alligator_redis/lua/``."""
    try:
        return resources.files(__package__).joinpath("lua").joinpath(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no Lua file {file!r} in alligator_redis/lua") from None


def _expand(file: str, included: set[str]) -> str:
    """The file's text, each ``-- include:`` line replaced by that file's own
    expanded text, or dropped when the file is in already."""

    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in included:
            return ""
        included.add(name)
        return _expand(name, included).rstrip("\n")

    return _INCLUDE.sub(include, _read(file))


def _resolve(name: str, layout: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """Reads the script ``lua/<name>.lua`` and resolves its includes, keys and placeholders.

    Args:
        name: The script's name, its file's name without ``.lua``.
        layout: Every key name of its family (a queue's by default; the
            worker registry's or the pauses' for theirs): each becomes a Lua
            local, bound to its ``KEYS`` entry or to ``false``.

    Returns:
        The key names it takes, and its source as sent to Redis.

    Raises:
        ValueError: The file, an included file, or its ``-- KEYS:`` line is
            missing, or it names a key outside ``layout`` or an unknown
            placeholder.
    """
    file = f"{name}.lua"
    source = _expand(file, {file})
    declared = _KEYS_LINE.findall(source)
    if len(declared) != 1:
        raise ValueError(f"{file} must declare its keys in exactly one '-- KEYS:' line, not {len(declared)}")
    keys = tuple(declared[0].split())
    unknown = set(keys) - set(layout)
    if unknown:
        raise ValueError(f"{file} names unknown keys {sorted(unknown)}")

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in PLACEHOLDERS:
            raise ValueError(f"{file} uses the unknown placeholder {match.group(0)}")
        return str(PLACEHOLDERS[match.group(1)])

    source = _PLACEHOLDER.sub(value, source)
    bound = ", ".join(f"KEYS[{keys.index(key) + 1}]" if key in keys else "false" for key in layout)
    return keys, f"local {', '.join(layout)} = {bound}\n{source}"


#: ARGV: now, id, payload, delay. Returns 1 if added, 0 if the id is taken
#: (waiting, delayed, reserved or a dead letter).
#: The hot path of every producer: seven commands when the queue is busy.
PUSH = Script("push")

#: ARGV: now, then (id, payload) pairs when every delay is 0, else (id, payload,
#: delay) triples; ARGV[2] says which ("2" or "3"). Returns how many were added.
#: A few commands per batch, not per task: one HMGET finds the ids taken
#: already, then one HSET, ZADD and HSET write the rest.
PUSH_MANY = Script("push_many")

PUSH_PRIORITIZED = Script("push_prioritized")

#: ARGV: now, lease_seconds, limit, max_payload_bytes, status_ttl, max_task_id_bytes,
#: max_dead_letters, dead_letter_ttl.
#: Returns (id, payload, receipt, attempts, failures) flattened, oldest first;
#: or, when nothing is due, a single number: milliseconds until the next
#: delayed task or lease deadline (-1 when there is none; 0 when every due
#: record was dead-lettered as unreadable).
RESERVE = Script("reserve")

#: ARGV: now, status_ttl, then (id, receipt, result_ttl, result) groups;
#: result_ttl is empty when no result is kept (result is then empty too).
#: Returns how many were acked. Acks and results of the whole batch are one
#: script: one round trip, and a result is kept exactly when its ack takes
#: effect. The ids acked are published on the done channel, in one message.
ACK = Script("ack")

#: ARGV: now, id, receipt, delay, attempted ("1" or "0"). Returns 1 or 0.
RELEASE = Script("release")

#: ARGV: now, lease_seconds, then (id, receipt) pairs. Returns one 1/0 per pair.
EXTEND = Script("extend")

#: ARGV: now, status_ttl, id, receipt, reason, max_dead_letters, dead_letter_ttl.
#: Returns 1 or 0.
DEAD_LETTER = Script("dead_letter")

#: ARGV: now, id, lease_seconds, max_payload_bytes, status_ttl, max_task_id_bytes,
#: max_dead_letters, dead_letter_ttl. Returns (id, payload, receipt, attempts,
#: failures), or nothing.
GET = Script("get")

#: ARGV: now, id, max_payload_bytes. Returns the payload of a waiting, delayed
#: or reserved task, or nil; changes nothing.
PEEK = Script("peek")

#: ARGV: now, id. Returns 1 or 0.
CANCEL = Script("cancel")

#: ARGV: now, status_ttl, id, dead_letter_ttl. Returns a status constant, or -1
#: for unknown. Agrees with FINISHED: a dead letter is FAILED until its time is
#: past, a kept result SUCCESS until it expires, whatever status_ttl says.
STATUS = Script("status")

#: ARGV: now. Returns waiting + delayed + expired leases.
LEN = Script("len")

#: ARGV: now, limit, max_payload_bytes, max_task_id_bytes, max_dead_letters,
#: dead_letter_ttl. Drops the letters past their time first (retention), then
#: returns (id, payload, reason, attempts, failed_at) flattened, oldest first;
#: a payload or an id over its limit is cut to it; attempts and failed_at are
#: numbers (0 when the stored field is not one).
DEAD_LETTERS = Script("dead_letters")

#: ARGV: now, id. Returns 1, or 0 when no dead letter has that id or (a record
#: written by hand) the id is live too: nothing is ever overwritten.
REQUEUE = Script("requeue")

#: ARGV: now, dead_letter_ttl. Returns (waiting, delayed, running, dead); an
#: ended lease is waiting; a dead letter past its time is not counted (listing
#: would drop it). The letters are in the order they failed: the expired ones
#: are the oldest, counted until the first that is not.
COUNTS = Script("counts")

#: ARGV: now, state, offset, limit (>= 1), max_payload_bytes, max_dead_letters,
#: dead_letter_ttl. Returns (id, payload, attempts, failures, due or failed_at,
#: reason) flattened, in the state's order; payloads cut to the limit. Changes
#: nothing, except that listing dead letters drops those past their time first.
TASKS = Script("tasks")

#: ARGV: id. Returns 1 if that dead letter was deleted, else 0.
DELETE_DEAD = Script("delete_dead")

#: No ARGV. Deletes every dead letter of the queue; returns how many.
PURGE_DEAD = Script("purge_dead")

#: ARGV: now. Requeues every dead letter, in the order they failed, each as
#: requeue does; returns how many (a letter whose id is live stays).
REQUEUE_ALL = Script("requeue_all")

#: ARGV: now, status_ttl, id, max_payload_bytes, dead_letter_ttl. Returns nothing when the task
#: is live or unknown; else (kind, result, reason, finished_at) with kind "R"
#: (succeeded, result handed out), "S" (succeeded, no result; reason says why
#: when one is kept but cannot be handed out) or "F" (a dead letter). A result
#: over the limit is measured, never read. Changes nothing.
FINISHED = Script("finished")

#: ARGV: now, status_ttl, offset, limit, max_payload_bytes, max_task_id_bytes.
#: Returns (id, kind, result, reason, acked at) flattened, for the succeeded
#: tasks status() says SUCCESS for, newest first (equal times: the greater id
#: first, as ZREVRANGEBYSCORE orders them); kind as FINISHED says it.
SUCCEEDED = Script("succeeded")

#: ARGV: now. Returns 0 when a task is due now (waiting, or a lease ended);
#: else milliseconds until the next delayed task or lease deadline, or -1 when
#: there is none. Changes nothing: a waiter on several queues asks it first.
DUE = Script("due")

#: Every script, for tests and tools that want to go through them all.
SCRIPTS = (
    PUSH,
    PUSH_MANY,
    PUSH_PRIORITIZED,
    RESERVE,
    ACK,
    RELEASE,
    EXTEND,
    DEAD_LETTER,
    GET,
    PEEK,
    CANCEL,
    STATUS,
    LEN,
    DEAD_LETTERS,
    REQUEUE,
    COUNTS,
    TASKS,
    DELETE_DEAD,
    PURGE_DEAD,
    REQUEUE_ALL,
    FINISHED,
    SUCCEEDED,
    DUE,
)


# -- the live workers' registry ---------------------------------------------------

#: ARGV: now, worker_id, record, ttl, max_workers. Writes the record, drops the
#: expired and the oldest over the cap, and keeps a native expiry a day past
#: the TTL as a safety net. Returns 1.
HEARTBEAT = Script("heartbeat", tuple(WORKER_KEYS))

#: ARGV: worker_id. Returns 1 if it had a record, else 0.
FORGET_WORKER = Script("forget_worker", tuple(WORKER_KEYS))

#: ARGV: now, max_payload_bytes, max_workers. Drops the expired records, then
#: returns (id, record) flattened, oldest heartbeat first; a record over the
#: limit, or an id or record that is not UTF-8, is skipped (never sent).
WORKER_RECORDS = Script("worker_records", tuple(WORKER_KEYS))

#: The registry's scripts.
WORKER_SCRIPTS = (HEARTBEAT, FORGET_WORKER, WORKER_RECORDS)

#: The queue scripts by name (:data:`SCRIPTS`).
BY_NAME = {script.name: script for script in SCRIPTS}
