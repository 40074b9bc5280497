"""Hostile records: what anyone with write access puts straight into the store never stops the queue.

The payloads of ``test_hostile_payloads`` go through ``backend.push()``, so
they are always text the backend accepted. Whoever can write to the SQLite
file or the Redis server can write anything at all; this proof does, with
raw SQL and raw ``HSET``/``ZADD`` (``raw_sqlite`` / ``raw_redis``, one module
per backend's storage layout), among valid tasks written the same way:

* **bytes that are not UTF-8**: invalid, overlong, surrogate, truncated and
  stray continuation bytes, alone or inside a task's JSON (SQLite: both as
  TEXT and as a BLOB in the TEXT column);
* **NUL**: raw inside a JSON string, alone, after the object, and escaped
  inside the module, the function and the task id (and, in a VALID task, in
  an argument, which must arrive unchanged);
* **NaN and Infinity** (``NaN``, ``Infinity``, ``-Infinity``, ``1e999``,
  ``-1e999``) in every numeric field: ``v``, ``retries``, each entry of
  ``retry_policy``, an argument, a nested argument, a keyword argument;
* **oversized records**: several of 40 MiB in one batch, and one a byte over
  the limit;
* **``__main__`` and ``__init__`` targets**: ``alligator.__main__``, a test
  package's ``__main__`` (its top-level code marks the ledger and calls
  ``sys.exit``), ``hostile_pkg.__init__`` and ``alligator.__init__``;
* **BaseException raisers**: ``KeyboardInterrupt``, ``SystemExit``,
  ``GeneratorExit``, ``asyncio.CancelledError`` and a custom subclass (one
  of them with a retry left);
* **dependency cycles**: a task depending on itself, two on each other,
  three in a ring; and a list of 101 dependencies, over the cap of 100.

Then ONE real ``latergator`` process (allowing ``reliability_tasks``, the
test package ``hostile_pkg``, and ``alligator`` itself, so that a
``__main__`` or ``__init__`` is refused for what it is rather than for its
package) works the queue. The proof asserts:

* the worker never dies: it is running at the end and exits 0 on SIGTERM;
* every bad record ends as a dead letter (status FAILED) whose reason names
  its problem (each kind says which words it expects), and none of them
  runs (the ledger, outside the queue, shows no run of theirs, no
  ``main-ran`` and no ``init-ran``), except the BaseException raisers, which
  run as often as their retries allow and fail as tasks;
* every valid task written among them completes (the ledger), and so does
  one pushed by a producer while the worker runs;
* the worker's peak RSS (``VmHWM``) stays under 64 MiB.

The short form (``nox -s reliability``) has 4 oversized records and 124
valid tasks per backend; the long form (``soak``) 8 and 1,004, with
``--concurrency 3``. A failure lists every problem, grouped by kind;
``RELIABILITY_HOSTILE_KINDS=nul,cycle`` plants only the kinds named.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import reliability_tasks
from raw_sqlite import RawRecord
from reliability_helpers import Store, report, wait_for
from reliability_tasks import Ledger

from alligator import constants
from alligator.constants import FAILED, SUCCESS, WAITING
from alligator.security import DEFAULT_MAX_PAYLOAD_BYTES
from alligator.tasks import Task

LIMIT = DEFAULT_MAX_PAYLOAD_BYTES
BIG = 40 * 1024 * 1024
#: The bound of the issue's "Done when": a worker's memory does not grow with what is in the store.
RSS_LIMIT = 64 * 1024 * 1024
LEASE = 10.0
ALLOW = "reliability_tasks,hostile_pkg,alligator"
#: Code that must never run records these keys in the ledger (see hostile_pkg).
MARKS = {"main-ran", "init-ran"}
#: Comma-separated kind prefixes (e.g. ``nul,non_finite``) to plant only those bad records:
#: to see which fix a failure of the whole proof waits for. Unset: every kind.
KINDS_ENV = "RELIABILITY_HOSTILE_KINDS"

NAN_WORDS = ("nan", "inf", "finite", "1e999", "range")
NUL_JSON_WORDS = ("not valid json", "control character", "nul", "\\x00", "\\u0000")
NUL_NAME_WORDS = ("not allowed", "cannot import", "no attribute", "nul", "\\x00", "\\u0000", "null")
UTF8_WORDS = ("payload is not valid utf-8",)
CYCLE_WORDS = ("cycle", "circular", "itself")


@dataclass
class Bad:
    """A record that must end as a dead letter, and what its reason must say."""

    key: str
    kind: str
    data: bytes
    words: tuple[str, ...]  # the reason contains at least one of these (case-insensitive)
    storage: str = "text"
    forbidden: tuple[str, ...] = ()  # the reason contains none of these
    runs: int = 0  # how many runs the ledger must show (BaseException raisers run; the rest never)
    cycle: tuple[str, ...] = ()  # the other keys of its dependency cycle


@dataclass
class Good:
    """A valid task record: it must complete."""

    key: str
    data: bytes


@dataclass
class Queue:
    bad: list[Bad] = field(default_factory=list)
    good: list[Good] = field(default_factory=list)
    counter: int = 0

    def key(self, prefix: str) -> str:
        # Keys say nothing a reason is checked for ("nan", "cycle", ...), so
        # a reason that merely names its task id never passes for one that names its problem.
        self.counter += 1
        return f"{prefix}-{self.counter:04d}"


def task(key: str, function: str = "canary", **fields: Any) -> dict[str, Any]:
    """The fields of a task payload as our producer writes them (``canary`` must never run)."""
    body: dict[str, Any] = {
        "v": 1,
        "task_id": key,
        "module": "reliability_tasks",
        "callable": function,
        "args": [key],
        "kwargs": {},
        "retries": 0,
        "is_async": True,
    }
    body.update(fields)
    return body


def encode(body: dict[str, Any], **raw: bytes) -> bytes:
    """JSON bytes of ``body``; each string value ``"__NAME__"`` replaced by the raw bytes ``raw[NAME]``."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    for name, value in raw.items():
        placeholder = f'"__{name}__"'.encode()
        assert placeholder in data, (placeholder, data[:200])
        data = data.replace(placeholder, value)
    return data


def build(backend: str, rng: random.Random, big: int, valid: int) -> Queue:
    """Every hostile record of the proof, and the valid tasks among them."""
    q = Queue()

    # -- valid tasks -------------------------------------------------------
    for _ in range(valid):
        key = q.key("ok")
        q.good.append(Good(key, encode(task(key, "record"))))
    first_good = q.good[0].key
    key = q.key("ok")
    value = "NUL \x00 inside, a line separator \u2028, a crocodile \U0001f40a, and \ufffe"
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    q.good.append(Good(key, encode(task(key, "checked", args=[key, value, digest]))))
    key = q.key("ok")
    q.good.append(Good(key, encode(task(key, "record", depends_on=[first_good]))))
    key = q.key("ok")
    q.good.append(Good(key, encode(task(key, "record", retries=2, retry_policy=[0.5, 2.0, 10.0]))))
    key = q.key("ok")
    q.good.append(Good(key, encode(task(key, "ok", module="hostile_pkg"))))

    # -- bytes that are not UTF-8 ---------------------------------------------
    storages = ("text", "blob") if backend == "sqlite" else ("text",)
    for storage in storages:
        for name, bad_bytes in [
            ("invalid", b"\xff\xfe\xfd"),
            ("latin1", b"caf\xe9"),
            ("overlong", b"\xc0\xaf"),
            ("surrogate", b"\xed\xa0\x80"),
            ("truncated", b"\xe2\x82"),
            ("continuation", b"\x80"),
        ]:
            key = q.key("bad")
            alone = bad_bytes
            inside = encode(task(key, kwargs={"note": "__BAD__"}), BAD=b'"' + bad_bytes + b'"')
            data = alone if name == "invalid" else inside
            if name == "truncated":
                data = encode(task(key)) + bad_bytes  # cut short at the very end
            if name == "continuation":
                data = bad_bytes + encode(task(key))
            q.bad.append(Bad(key, f"not_utf8:{name}:{storage}", data, UTF8_WORDS, storage))

    # -- NUL -----------------------------------------------------------------
    key = q.key("bad")
    data = encode(task(key, kwargs={"note": "__NUL__"}), NUL=b'"a\x00b"')
    q.bad.append(Bad(key, "nul:raw_in_string", data, NUL_JSON_WORDS))
    key = q.key("bad")
    q.bad.append(Bad(key, "nul:alone", b"\x00", NUL_JSON_WORDS))
    key = q.key("bad")
    q.bad.append(Bad(key, "nul:after_object", encode(task(key)) + b"\x00", NUL_JSON_WORDS))
    key = q.key("bad")
    data = encode(task(key, module="reliability_tasks\x00evil"))
    q.bad.append(Bad(key, "nul:in_module", data, NUL_NAME_WORDS))
    key = q.key("bad")
    q.bad.append(Bad(key, "nul:in_function", encode(task(key, "canary\x00evil")), NUL_NAME_WORDS))
    key = q.key("bad")
    data = encode(task(key, task_id=key + "\x00"))
    q.bad.append(Bad(key, "nul:in_task_id", data, ("task id", "task_id", "control", "nul", "\\x00")))

    # -- NaN and Infinity in every numeric field --------------------------------
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999"):
        number = literal.encode()
        places: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
            ("v", lambda k: task(k, v="__N__")),
            ("retries", lambda k: task(k, retries="__N__")),
            ("retry_policy[0]", lambda k: task(k, retries=1, retry_policy=["__N__", 2.0, 60.0])),
            ("retry_policy[1]", lambda k: task(k, retries=1, retry_policy=[1.0, "__N__", 60.0])),
            ("retry_policy[2]", lambda k: task(k, retries=1, retry_policy=[1.0, 2.0, "__N__"])),
            ("args", lambda k: task(k, "canary_with", args=[k, "__N__"])),
            ("nested_args", lambda k: task(k, "canary_with", args=[k, {"amounts": [1, "__N__"]}])),
            ("kwargs", lambda k: task(k, "canary_with", kwargs={"amount": "__N__"})),
        ]
        for place, make in places:
            key = q.key("bad")
            q.bad.append(Bad(key, f"non_finite:{literal}:{place}", encode(make(key), N=number), NAN_WORDS))

    # -- oversized ----------------------------------------------------------------
    def oversized(key: str, size: int, char: str) -> bytes:
        # A task that is valid but for its size: one long string argument.
        missing = size - len(encode(task(key, kwargs={"pad": ""})))
        pad = (char * (missing // len(char.encode()) + 1)).encode()
        return encode(task(key, kwargs={"pad": "__PAD__"}), PAD=b'"' + pad + b'"')

    for n in range(big):
        key = q.key("bad")
        data = oversized(key, BIG, "\u00e9" if n % 2 else "a")
        q.bad.append(
            Bad(key, "oversized:40MiB", data, (f"payload is {len(data)} bytes, over the limit of {LIMIT}",))
        )
    key = q.key("bad")
    data = oversized(key, LIMIT + 1, "a")
    q.bad.append(
        Bad(key, "oversized:limit+1", data, (f"payload is {len(data)} bytes, over the limit of {LIMIT}",))
    )

    # -- __main__ and __init__ -----------------------------------------------------
    not_run = ("Traceback", "raised on attempt")
    for module, function, args, word in [
        ("alligator.__main__", "main", list[str](), "__main__"),
        ("hostile_pkg.__main__", "run", None, "__main__"),
        ("hostile_pkg.__init__", "ok", None, "__init__"),
        ("alligator.__init__", "Gator", None, "__init__"),
    ]:
        key = q.key("bad")
        body = task(key, function, module=module)
        if args is not None:
            body["args"] = args
        q.bad.append(Bad(key, f"module:{module}", encode(body), (word,), forbidden=not_run))

    # -- BaseException from the task's function ---------------------------------------
    kinds = ["KeyboardInterrupt", "SystemExit", "GeneratorExit", "CancelledError", "HostileBaseException"]
    for kind in kinds:
        key = q.key("bad")
        data = encode(task(key, "raise_base", args=[key, kind]))
        q.bad.append(
            Bad(key, f"base_exception:{kind}", data, (kind,), forbidden=("without finishing",), runs=1)
        )
    key = q.key("bad")
    body = task(key, "raise_base", args=[key, "KeyboardInterrupt"], retries=1, retry_policy=[0.0, 1.0, 0.0])
    body["retry_jitter"] = False
    q.bad.append(
        Bad(
            key,
            "base_exception:KeyboardInterrupt:retried",
            encode(body),
            ("KeyboardInterrupt",),
            forbidden=("without finishing",),
            runs=2,
        )
    )

    # -- dependency cycles, and too many dependencies ------------------------------------
    for size in (1, 2, 3):
        ring = [q.key("bad") for _ in range(size)]
        for n, key in enumerate(ring):
            data = encode(task(key, depends_on=[ring[(n + 1) % size]]))
            others = tuple(k for k in ring if k != key)
            q.bad.append(Bad(key, f"cycle:{size}", data, CYCLE_WORDS, cycle=others))
    key = q.key("bad")
    many = [g.key for g in q.good[:101]]
    assert len(many) == 101
    q.bad.append(Bad(key, "dependencies:101", encode(task(key, depends_on=many)), ("101", "100")))
    chosen = [kind for kind in os.environ.get(KINDS_ENV, "").split(",") if kind]
    if chosen:
        q.bad = [bad for bad in q.bad if bad.kind.startswith(tuple(chosen))]
    return q


def records_in_order(q: Queue, rng: random.Random) -> list[RawRecord]:
    """Bad and valid records shuffled together; the oversized ones together, in one batch's reach."""
    items: list[Bad | Good] = [*q.bad, *q.good]
    rng.shuffle(items)
    is_big = [isinstance(i, Bad) and i.kind == "oversized:40MiB" for i in items]
    big = [i for i, flag in zip(items, is_big, strict=True) if flag]
    rest = [i for i, flag in zip(items, is_big, strict=True) if not flag]
    at = rng.randrange(len(rest) // 2)
    items = rest[:at] + big + rest[at:]
    return [RawRecord(i.key, i.data, i.storage if isinstance(i, Bad) else "text") for i in items]


def status_name(status: int | None) -> str:
    names = ("WAITING", "SUCCESS", "FAILED", "DELAYED", "RETRYING", "RUNNING")
    return next((name for name in names if getattr(constants, name) == status), repr(status))


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def latergator() -> str:
    """The ``latergator`` command of the environment running the tests."""
    script = Path(sys.executable).with_name("latergator")
    found = str(script) if script.exists() else shutil.which("latergator")
    assert found, "latergator is not installed beside this Python"
    return found


def reason_problem(bad: Bad, reason: str) -> str | None:
    """What is wrong with a dead letter's reason for this record, or None."""
    lowered = reason.lower()
    if bad.cycle and "dependency" in lowered and "failed" in lowered and any(k in reason for k in bad.cycle):
        return None  # its cycle was broken at another member, which failed: that is its reason
    if not any(word.lower() in lowered for word in bad.words):
        return f"names none of {bad.words}"
    found = [word for word in bad.forbidden if word.lower() in lowered]
    return f"says {found}" if found else None


def run_hostile_records(  # type: ignore[no-untyped-def]
    store: Store, make_workers, ledger: Ledger, big: int, valid: int, concurrency: int, timeout: float
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    q = build(store.name, rng, big, valid)
    records = records_in_order(q, rng)
    gator = store.gator()
    backend = gator.backend  # built first: it creates SQLite's tables
    started = time.monotonic()
    store.raw.plant(store.dsn, store.queue, records)
    plant_seconds = time.monotonic() - started
    del records
    # The raw writer must match the backend's layout, or this proves nothing.
    assert backend.len(store.queue) == len(q.bad) + len(q.good), (
        "the backend does not see the records raw_sqlite/raw_redis wrote: does its layout still match?"
    )
    assert backend.status(store.queue, q.good[0].key) == WAITING

    pool = make_workers(
        store,
        "--lease-seconds",
        str(LEASE),
        "--concurrency",
        str(concurrency),
        command=(latergator(),),
        env={"ALLIGATOR_ALLOW": ALLOW},
    )
    [worker] = pool.start()
    started = time.monotonic()
    after = "ok-after"
    pushed_after = False
    bad_keys = [b.key for b in q.bad]
    good_keys = [g.key for g in q.good]

    def settled() -> bool:
        nonlocal pushed_after
        if not pushed_after and "starting" in pool.output():
            # A producer's task, sent while the worker works through the hostile records.
            gator.push(Task(task_id=after), reliability_tasks.record, after)
            pushed_after = True
        if worker.poll() is not None:
            return True
        if not pushed_after or ledger.refresh().missing([*good_keys, after]):
            return False
        # A run is in the ledger a moment before its ack reaches the store.
        if any(backend.status(store.queue, k) != SUCCESS for k in [*good_keys, after]):
            return False
        return all(backend.status(store.queue, k) == FAILED for k in bad_keys)

    try:
        wait_for(settled, timeout, "every record to settle", poll=0.5)
    except AssertionError:
        pass  # reported below, with everything else that is wrong
    settle_seconds = time.monotonic() - started

    problems: list[str] = []
    alive = worker.poll() is None
    rss = peak_rss(worker.pid) if alive else None
    if not alive:
        problems.append(f"the worker died with exit status {worker.returncode}")
    ledger.refresh()
    runs = ledger.by_key()
    statuses = {k: backend.status(store.queue, k) for k in [*bad_keys, *good_keys, after]}
    letters = {d.task_id: d for d in backend.dead_letters(store.queue, 10 * len(q.bad))}
    by_kind: dict[str, list[str]] = {}
    for bad in q.bad:
        letter = letters.get(bad.key)
        if letter is None:
            issue: str | None = f"not a dead letter (status {status_name(statuses[bad.key])})"
        elif statuses[bad.key] != FAILED:
            issue = f"a dead letter, but its status is {status_name(statuses[bad.key])}"
        else:
            issue = reason_problem(bad, letter.reason)
            if issue is not None:
                issue += f": {letter.reason[:300]!r}"
        ran = len(runs.get(bad.key, []))
        if ran != bad.runs:
            issue = (issue + "; " if issue else "") + f"ran {ran} time(s), expected {bad.runs}"
        if issue is not None:
            by_kind.setdefault(bad.kind, []).append(f"{bad.key}: {issue}")
    for kind, issues in sorted(by_kind.items()):
        problems.append(
            f"{kind}: " + " | ".join(issues[:3]) + (f" (+{len(issues) - 3})" if len(issues) > 3 else "")
        )
    for size in (2, 3):
        ring = [b for b in q.bad if b.kind == f"cycle:{size}"]
        if ring and not any(
            b.key in letters
            and reason_problem(Bad(b.key, b.kind, b"", CYCLE_WORDS), letters[b.key].reason) is None
            for b in ring
        ):
            problems.append(f"no member of the {size}-task cycle was dead-lettered for the cycle")
    marks = MARKS & set(runs)
    if marks:
        problems.append(f"code that must never run did: {sorted(marks)} (__main__ or __init__ imported)")
    unfinished = ledger.missing(good_keys)
    if unfinished:
        problems.append(
            f"{len(unfinished)} of {len(good_keys)} valid tasks never completed: {sorted(unfinished)[:5]}"
        )
    not_success = [k for k in good_keys if statuses[k] != SUCCESS]
    if not_success:
        shown = [(k, status_name(statuses[k])) for k in not_success[:5]]
        problems.append(f"{len(not_success)} valid tasks are not SUCCESS: {shown}")
    if not pushed_after or statuses[after] != SUCCESS:
        problems.append(
            f"the task pushed while the worker ran did not complete (status {status_name(statuses[after])})"
        )
    if rss is not None and rss >= RSS_LIMIT:
        problems.append(f"the worker's peak RSS was {rss / 2**20:.1f} MiB, over {RSS_LIMIT / 2**20:.0f} MiB")
    code = None
    if alive:
        [code] = pool.stop()
        if code != 0:
            problems.append(f"the worker exited {code} on SIGTERM, not 0")
    output = pool.output()
    if "could not settle" in output:
        problems.append("the worker logged 'could not settle'")
    assert not problems, (
        f"{len(problems)} problem(s) with hostile records on {store.name} (seed {seed}):\n- "
        + "\n- ".join(problems)
        + f"\n\nworker log (last 4000 chars):\n{output[-4000:]}"
    )
    kinds_40mib = sum(1 for bad in q.bad if bad.kind == "oversized:40MiB")
    kinds: dict[str, int] = {}
    for bad in q.bad:
        group = bad.kind.split(":")[0]
        kinds[group] = kinds.get(group, 0) + 1
    report(
        f"hostile_records[{store.name}]",
        bad_records=len(q.bad),
        valid_tasks=len(q.good) + 1,
        kinds=kinds,
        oversized_40mib=kinds_40mib,
        concurrency=concurrency,
        dead_letters=len(letters),
        valid_completed=len(good_keys) + 1 - len(unfinished),
        worker_peak_rss_mib=round((rss or 0) / 2**20, 1),
        worker_exit=code,
        plant_seconds=round(plant_seconds, 2),
        settle_seconds=round(settle_seconds, 2),
        seed=seed,
    )


def test_hostile_records_written_into_the_store(store: Store, workers, ledger: Ledger, precompiled) -> None:  # type: ignore[no-untyped-def]
    run_hostile_records(store, workers, ledger, big=4, valid=120, concurrency=1, timeout=90)


@pytest.mark.soak
def test_hostile_records_soak(store: Store, workers, ledger: Ledger, precompiled) -> None:  # type: ignore[no-untyped-def]
    run_hostile_records(store, workers, ledger, big=8, valid=1000, concurrency=3, timeout=300)
