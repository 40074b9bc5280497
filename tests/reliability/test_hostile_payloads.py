"""Hostile payloads: 1,000 broken or malicious payloads never kill a worker, and none runs.

The default run sends 300 of them (the short form); ``nox -s soak`` sends
the 1,000.

The payloads are pushed straight into the backend (``backend.push(queue, id,
payload)``), past every check a producer makes, and ONE worker process
(``python -m alligator``, with ``ALLIGATOR_SECRET`` set so signatures are
checked too) works through all of them. Each must end as a dead letter with
the reason the right layer gives (size, signature, JSON, task fields, allow
list, import, arguments); the ``canary`` task they mostly name must never run
(the ledger stays empty); the worker must still be alive, run a valid task
sent after them, and exit 0 on SIGTERM.

How hypothesis is used: the payloads must run as ONE batch through one
worker, so a ``@given`` test per payload (a worker per example) is out, and
``.example()`` is meant for interactive use. Instead ``hostile_payloads()``
wraps a collector in ``@given(spec=hostile_specs())`` with
``max_examples=1000`` and only the generate phase: hypothesis's own engine
draws 1,000 diverse examples (it favours boundaries: empty strings, huge
numbers, odd characters) and the collector keeps them; the test then pushes
them all at once. There is no shrinking, so a failure message prints the
offending payloads, their kind and the seed; ``RELIABILITY_SEED=<seed>``
reproduces a run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import reliability_tasks
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from reliability_helpers import HERE, Store, report, wait_for, worker_env
from reliability_tasks import Ledger

from alligator.constants import FAILED, SUCCESS
from alligator.security import DEFAULT_MAX_PAYLOAD_BYTES, SIGNED_PREFIX
from alligator.tasks import Task

SECRET = "reliability-secret-0123456789abcdefghij"  # signing keys are at least 32 characters
PAYLOADS = 1000
#: The short form's payloads (the default run); the soak test sends PAYLOADS.
SHORT_PAYLOADS = 300
LIMIT = DEFAULT_MAX_PAYLOAD_BYTES
ID = "__ID__"  # replaced by the id the payload is pushed under
DIR = "__DIR__"  # replaced by a directory of the test: where an escape would leave its mark
KNOWN_KEYS = {
    "v",
    "task_id",
    "module",
    "callable",
    "args",
    "kwargs",
    "retries",
    "is_async",
    "async",
    "on_start",
    "on_success",
    "on_error",
    "depends_on",
    "retry_policy",
    "retry_jitter",
}


def _base() -> dict[str, Any]:
    """A VALID payload of the canary: every structured kind below breaks it in one way."""
    return {
        "v": 1,
        "task_id": ID,
        "module": "reliability_tasks",
        "callable": "canary",
        "args": [ID],
        "kwargs": {},
        "retries": 0,
        "is_async": True,
    }


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
not_str = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(scalars, max_size=2)
)
not_list = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.dictionaries(st.text(max_size=4), scalars)
)
not_dict = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.lists(scalars, max_size=2)
not_bool = (
    st.none()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.lists(scalars, max_size=2)
)
not_int = (
    st.none()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.lists(scalars, max_size=2)
    | st.booleans()
)
WRONG_TYPES = {
    "task_id": not_str,
    "module": not_str,
    "callable": not_str,
    "args": not_list,
    "kwargs": not_dict,
    "retries": not_int,  # a bool is an int to isinstance, but Task refuses it
    "is_async": not_bool,
    "on_start": not_str,
    "on_success": not_str,
    "on_error": not_str,
    "depends_on": not_list,
    "retry_policy": not_list,
    "retry_jitter": not_bool,
}
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)
DISALLOWED = [
    ("os", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "__import__"),
    ("subprocess", "run"),
    ("posix", "system"),
    ("shutil", "rmtree"),
    ("reliability_tasks_evil", "canary"),  # a prefix of an allowed name is not allowed
]


ESCAPES = [
    "os.mkdir",
    "os.makedirs",
    "os.path.os.mkdir",
    "os.system",
    "field",
    "Run.__class__",
]


def _extras(draw: st.DrawFn) -> dict[str, Any]:
    names = identifiers.filter(lambda k: k not in KNOWN_KEYS)
    return draw(st.dictionaries(names, json_values, max_size=3))


@st.composite
def structured(draw: st.DrawFn) -> tuple[str, str, str]:
    """(kind, body, expected reason) of a JSON object that looks like a task but is broken."""
    fields = _base()
    kind = draw(
        st.sampled_from(
            [
                "missing_keys",
                "wrong_type",
                "bad_version",
                "unknown_module",
                "unknown_callable",
                "nul_in_callable",
                "disallowed",
                "disallowed_hook",
                "bad_arity",
                "id_mismatch",
                "dotted_escape",
            ]
        )
    )
    fields.update(_extras(draw))
    if kind == "missing_keys":
        for key in draw(st.sets(st.sampled_from(["task_id", "module", "callable", "retries"]), min_size=1)):
            del fields[key]
        expected = "unreadable payload: payload is not a valid task: missing key(s)"
    elif kind == "wrong_type":
        key = draw(st.sampled_from(sorted(WRONG_TYPES)))
        fields[key] = draw(WRONG_TYPES[key])
        expected = "unreadable payload: payload is not a valid task"
    elif kind == "bad_version":
        fields["v"] = draw(json_values.filter(lambda v: v != 1))  # True == 1.0 == 1 would be valid
        expected = "unreadable payload: payload is not a valid task: payload format version"
    elif kind == "unknown_module":
        fields["module"] = "reliability_tasks.nosuch_" + draw(identifiers)
        expected = "Cannot import module"
    elif kind == "unknown_callable":
        fields["callable"] = "nosuch_" + draw(identifiers)
        expected = "has no attribute"
    elif kind == "nul_in_callable":
        fields["callable"] = "canary\x00" + draw(st.text(max_size=5))
        expected = "refused: task reliability_tasks:canary"
    elif kind == "disallowed":
        module, name = draw(
            st.sampled_from(DISALLOWED)
            | st.tuples(identifiers.filter(lambda m: m != "reliability_tasks"), identifiers)
        )
        fields["module"], fields["callable"] = module, name
        fields["args"] = draw(st.lists(scalars, max_size=2))
        expected = f"refused: task {module}:{name} is "  # not allowed, or (a __dunder__ name) never run
    elif kind == "disallowed_hook":
        hook = draw(st.sampled_from(["on_start", "on_success", "on_error"]))
        module, name = draw(st.sampled_from(DISALLOWED))
        fields[hook] = f"{module}:{name}"
        expected = (
            f"refused: hook {module}:{name} is not allowed"
            if "__" not in name
            else "unreadable payload: payload is not a valid task: the "  # a __dunder__ hook is malformed
        )
    elif kind == "bad_arity":
        # canary(key) takes one argument, by position or as key=; everything else is wrong.
        shape = draw(st.sampled_from(["none", "too_many", "unknown_kwarg", "twice"]))
        if shape == "none":
            fields["args"], fields["kwargs"] = [], {}
        elif shape == "too_many":
            fields["args"] = [ID, *draw(st.lists(scalars, min_size=1, max_size=3))]
        elif shape == "unknown_kwarg":
            name = draw(identifiers.filter(lambda k: k != "key"))
            fields["kwargs"] = {name: draw(scalars)}
        else:
            fields["kwargs"] = {"key": ID}
        expected = "arguments do not fit"
    elif kind == "dotted_escape":
        # An allowed module's name, then dots walking into what it imported (it imports os).
        name = draw(st.sampled_from(ESCAPES))
        fields["callable"] = name
        fields["args"] = [f"{DIR}/{ID}"]
        expected = (
            f"refused: task reliability_tasks:{name} is refused: "
            if "__" in name  # a dunder name is refused before anything is imported
            else f"refused: task reliability_tasks:{name} leads to a function of module"
        )
    else:
        fields["task_id"] = "other-" + draw(st.text(max_size=8))
        expected = (
            "payload names task id"
            if fields["task_id"].isprintable()
            else "unreadable payload: payload is not a valid task"  # ids must be printable
        )
    return kind, json.dumps(fields), expected


@st.composite
def deep(draw: st.DrawFn) -> tuple[str, str, str]:
    depth = draw(st.integers(101, 50_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opener * depth + "1" + closer * depth
    if draw(st.booleans()):
        nested = json.dumps(_base()).replace(f'"args": ["{ID}"]', f'"args": ["{ID}", {nested}]')
    return "deep_nesting", nested, "unreadable payload: payload is nested more than 100 levels deep"


@st.composite
def huge(draw: st.DrawFn) -> tuple[str, str, str]:
    char = draw(st.sampled_from(["a", "\u00e9", "\u20ac", "\U0001f40a"]))
    size = len(char.encode())
    count = LIMIT // size + draw(st.integers(1, 4096))  # over the limit in UTF-8 bytes, maybe not in chars
    fields = _base()
    fields["args"] = [ID]
    fields["kwargs"] = {"key": char * count} if draw(st.booleans()) else {}
    body = json.dumps(fields, ensure_ascii=False) if fields["kwargs"] else char * count
    return "huge", body, f"over the limit of {LIMIT}"


def _raw(kind: str, text: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str, str]]:
    return text.map(lambda body: (kind, body, "unreadable payload"))


def not_object() -> st.SearchStrategy[tuple[str, str, str]]:
    return json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: ("json_not_object", json.dumps(v), "unreadable payload: payload is a JSON")
    )


@st.composite
def hostile_specs(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(kind, signing mode, payload with the ID placeholder, expected reason)."""
    kind, body, expected = draw(
        structured()
        | structured()
        | structured()
        | deep()
        | huge()
        | not_object()
        | _raw("random_latin1", st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
        | _raw("random_text", st.text(max_size=100))
    )
    mode = draw(st.sampled_from(["good"] * 6 + ["unsigned", "bad_digest", "other_key", "tampered", "no_dot"]))
    return kind, mode, body, expected


def _digest(body: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body.encode("utf-8"), hashlib.sha256).hexdigest()


def build(kind: str, mode: str, template: str, expected: str, key: str, marks: Path) -> tuple[str, str]:
    """The payload to push under ``key`` and the reason it must be dead-lettered with."""
    body = template.replace(ID, key).replace(DIR, str(marks))
    if mode == "good":
        payload = f"{SIGNED_PREFIX}{_digest(body)}.{body}"
    elif mode == "unsigned":
        payload = body
        expected = "refused: payload is not signed"
    else:
        payload = {
            "bad_digest": lambda: f"{SIGNED_PREFIX}{'0' * 64}.{body}",
            "other_key": lambda: f"{SIGNED_PREFIX}{_digest(body, 'another-secret')}.{body}",
            "tampered": lambda: f"{SIGNED_PREFIX}{_digest(body)}.{body} ",
            "no_dot": lambda: f"{SIGNED_PREFIX}{_digest(body)}",
        }[mode]()
        expected = "refused: payload signature does not match"
    if len(payload.encode("utf-8")) > LIMIT:
        # The backend dead-letters it without handing it to the worker.
        expected = f"over the limit of {LIMIT}"
    return payload, expected


def hostile_payloads(count: int) -> tuple[int, list[tuple[str, str, str, str]]]:
    """``count`` hostile specs drawn by hypothesis (generate phase only), and the seed that draws them."""
    run_seed = int(os.environ.get("RELIABILITY_SEED") or random.randrange(1 << 30))
    collected: list[tuple[str, str, str, str]] = []

    @seed(run_seed)
    @settings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=hostile_specs())
    def collect(spec: tuple[str, str, str, str]) -> None:
        collected.append(spec)

    collect()
    return run_seed, collected


def test_hostile_payloads_are_dead_lettered_and_the_worker_lives(  # type: ignore[no-untyped-def]
    store: Store, workers, ledger: Ledger, tmp_path: Path
) -> None:
    """The short form: :data:`SHORT_PAYLOADS` payloads."""
    _hostile_payloads_run(store, workers, ledger, tmp_path, SHORT_PAYLOADS)


@pytest.mark.soak
def test_a_thousand_hostile_payloads_are_dead_lettered_and_the_worker_lives(  # type: ignore[no-untyped-def]
    store: Store, workers, ledger: Ledger, tmp_path: Path
) -> None:
    """The long form: :data:`PAYLOADS` payloads (``nox -s soak``)."""
    _hostile_payloads_run(store, workers, ledger, tmp_path, PAYLOADS)


def _hostile_payloads_run(  # type: ignore[no-untyped-def]
    store: Store, workers, ledger: Ledger, tmp_path: Path, count: int
) -> None:
    run_seed, specs = hostile_payloads(count)
    assert len(specs) >= count * 0.95, f"hypothesis gave only {len(specs)} examples"
    backend = store.gator().backend
    marks = tmp_path / "escapes"
    marks.mkdir()
    expected: dict[str, tuple[str, str, str]] = {}
    pushed: dict[str, str] = {}
    started = time.monotonic()
    for n, (kind, mode, template, reason) in enumerate(specs):
        key = f"h{n:04d}"
        payload, reason = build(kind, mode, template, reason, key, marks)
        assert backend.push(store.queue, key, payload) is True
        pushed[key] = payload
        expected[key] = (kind, mode, reason)
    push_seconds = time.monotonic() - started

    pool = workers(store, "--lease-seconds", "5", env={"ALLIGATOR_SECRET": SECRET})
    [worker] = pool.start()
    started = time.monotonic()
    wait_for(
        lambda: len(backend.dead_letters(store.queue, 2 * count)) >= len(pushed) or worker.poll() is not None,
        180,
        f"{len(pushed)} dead letters (seed {run_seed})",
        poll=0.2,
    )
    settle_seconds = time.monotonic() - started
    assert worker.poll() is None, f"the worker died (seed {run_seed}):\n{pool.output()[-5000:]}"
    assert ledger.refresh().runs == [], f"hostile payloads ran (seed {run_seed}): {ledger.runs[:10]}"
    assert list(marks.iterdir()) == [], "a dotted callable escaped its allowed module and ran os.mkdir"

    letters = {d.task_id: d for d in backend.dead_letters(store.queue, 2 * count)}
    assert set(letters) == set(pushed)
    wrong = []
    for key, letter in letters.items():
        kind, mode, reason = expected[key]
        ok = letter.reason.startswith(reason) if reason.startswith(("refused", "unreadable")) else True
        ok = ok and reason in letter.reason and letter.attempts == 1
        if reason == f"over the limit of {LIMIT}":
            # Listed cut to the limit (a cut character shows as U+FFFD).
            listed = letter.payload.encode("utf-8")
            ok = ok and len(listed) <= LIMIT + 3 and pushed[key].startswith(letter.payload.rstrip("\ufffd"))
        else:
            ok = ok and letter.payload == pushed[key]
        if not ok:
            wrong.append((key, kind, mode, reason, letter.reason[:300], letter.attempts, pushed[key][:200]))
    assert not wrong, f"{len(wrong)} dead letters with the wrong reason (seed {run_seed}): {wrong[:5]}"
    assert all(backend.status(store.queue, key) == FAILED for key in pushed)

    # The worker is still serving: a valid, signed task sent after them runs.
    gator = store.gator(secret=SECRET)
    gator.push(Task(task_id="valid"), reliability_tasks.record, "valid")
    wait_for(lambda: "valid" in ledger.refresh().finished, 30, "the valid task to run")
    wait_for(lambda: gator.status("valid") == SUCCESS, 10, "the valid task's ack")
    assert worker.poll() is None
    [code] = pool.stop()
    output = pool.output()
    assert code == 0, output
    assert "could not settle" not in output and "could not extend" not in output, output
    kinds: dict[str, int] = {}
    for kind, mode, _ in expected.values():
        kinds[kind] = kinds.get(kind, 0) + 1
        kinds["signature:" + mode] = kinds.get("signature:" + mode, 0) + 1
    report(
        f"hostile_payloads[{store.name}]",
        payloads=len(pushed),
        dead_letters=len(letters),
        ran=0,
        worker_exit=code,
        kinds=kinds,
        push_seconds=round(push_seconds, 2),
        dead_letter_all_seconds=round(settle_seconds, 2),
        seed=run_seed,
    )


# -- what the backends cannot store ------------------------------------------

UNSTORABLE = [
    "lone surrogate \udc80",
    '{"task_id": "\ud800"}',
    b"\xff\xfe{}".decode("utf-8", "surrogateescape"),
]

PUSH_FROM_ANOTHER_PROCESS = """
import sys
from alligator import Gator
gator = Gator(sys.argv[1], queue_name=sys.argv[2])
print(gator.backend.push(sys.argv[2], "from-another-process", "{}"))
"""


@pytest.mark.parametrize(
    "backend_name",
    [
        "sqlite",
        "redis",
    ],
)
def test_an_unstorable_payload_is_refused_and_the_backend_stays_usable(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path, ledger: Ledger
) -> None:
    """Strings a backend cannot store (lone surrogates: not UTF-8-encodable) are refused at push
    with an exception (never stored altered, never silently dropped), and the store stays usable
    by this process and by others.

    The contract (``Backend.push``) allows a ValueError here, with nothing changed. A Gator
    never produces such payloads (``json.dumps`` escapes surrogates), so only a raw push meets
    this.
    """
    from reliability_helpers import make_store

    # Kept, and closed at the end: a generator nobody holds is closed at once,
    # which would drop the queue before the test used it and leave its keys after.
    stores = make_store(backend_name, tmp_path, request)
    store = next(stores)
    request.addfinalizer(stores.close)
    dsn = store.dsn if backend_name == "redis" else store.dsn + "?timeout=3"
    backend = store.gator().build_backend(dsn)
    for n, payload in enumerate(UNSTORABLE):
        with pytest.raises(ValueError):
            backend.push(store.queue, f"bad{n}", payload)
    other = subprocess.run(
        [sys.executable, "-c", PUSH_FROM_ANOTHER_PROCESS, dsn, store.queue],
        env=worker_env(ledger),
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0 and other.stdout.strip() == "True", other.stderr[-2000:]
    assert backend.push(store.queue, "after", "{}") is True
    assert backend.len(store.queue) == 2
    backend.drop_all(store.queue)
    backend.close()


# -- the allow-list and dotted callables --------------------------------------


def test_a_dotted_callable_cannot_escape_an_allowed_module(
    sqlite_store: Store, ledger: Ledger, tmp_path: Path
) -> None:
    """`{"module": "reliability_tasks", "callable": "os.mkdir"}` names os.mkdir through an allowed
    module (reliability_tasks imports os); it must be refused, not run, by a real worker process.
    (It ran before commit 4b8eb78; the hostile mix above has more of these, of every backend.)"""
    target = tmp_path / "escaped"
    body = json.dumps(
        {
            "v": 1,
            "task_id": "escape",
            "module": "reliability_tasks",
            "callable": "os.mkdir",
            "args": [str(target)],
            "kwargs": {},
            "retries": 0,
        }
    )
    backend = sqlite_store.gator().backend
    backend.push(sqlite_store.queue, "escape", body)
    command = [sys.executable, "-m", "alligator", sqlite_store.dsn, "--queue", sqlite_store.queue]
    done = subprocess.run(
        [*command, "--max-tasks", "1", "--nap-time", "0.05"],
        env=worker_env(ledger),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not target.exists(), "reliability_tasks:os.mkdir ran: the allow-list was bypassed"
    [letter] = backend.dead_letters(sqlite_store.queue)
    assert letter.reason.startswith("refused: task reliability_tasks:os.mkdir leads to a function"), letter
