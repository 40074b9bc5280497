"""Deny by default, signed payloads, size limits: a queue is untrusted input."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import uuid
from pathlib import Path

import pytest
import sample_tasks

from alligator import Gator, Worker, capabilities
from alligator.backend import Ack
from alligator.constants import SUCCESS
from alligator.exceptions import PayloadTooLargeError, ResultSignatureError, TaskFailed, TaskRefused
from alligator.security import MIN_SECRET_LENGTH, OUTCOME_SIGNATURE_BYTES, SIGNED_PREFIX, TaskPolicy

#: Keys long enough to sign (see MIN_SECRET_LENGTH).
OLD_KEY = "old-" + "o" * 40
NEW_KEY = "new-" + "n" * 40


def _dsn() -> str:
    return f"locmem://{uuid.uuid4().hex}"


def _push_raw(gator: Gator, task_id: str, module: str, callable_: str, **extra: object) -> None:
    body = {"task_id": task_id, "module": module, "callable": callable_, "args": [], "retries": 0, **extra}
    gator.backend.push(gator.queue_name, task_id, json.dumps(body))


def test_nothing_runs_unless_allowed_and_nothing_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIGATOR_ALLOW", raising=False)
    sys.modules.pop("forbidden_module", None)
    gator = Gator(_dsn(), allow=["some_other_app"])
    _push_raw(gator, "forbidden", "forbidden_module", "run")
    _push_raw(gator, "os", "os", "system", args=["echo pwned"])
    _push_raw(gator, "eval", "builtins", "eval", args=["1+1"])
    Worker(gator, max_tasks=3).run_forever()
    reasons = {d.task_id: d.reason for d in gator.dead_letters()}
    assert set(reasons) == {"forbidden", "os", "eval"}
    assert all(r.startswith("refused: task") and "not allowed" in r for r in reasons.values())
    assert "--allow forbidden_module" in reasons["forbidden"]
    assert "forbidden_module" not in sys.modules, "the check must come before the import"


def test_allow_by_prefix_function_worker_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = TaskPolicy.build(allow=["myapp", "other.mod:fn"], environ={"ALLIGATOR_ALLOW": "envmod"})
    assert policy.is_allowed("myapp", "f") and policy.is_allowed("myapp.tasks.deep", "f")
    assert not policy.is_allowed("myapplication", "f")
    assert policy.is_allowed("other.mod", "fn") and not policy.is_allowed("other.mod", "other")
    assert policy.is_allowed("envmod.x", "f")
    with pytest.raises(ValueError, match="not a module path"):
        TaskPolicy.build(allow=["bad name"], environ={})

    monkeypatch.setenv("ALLIGATOR_ALLOW", "sample_tasks")
    gator = Gator(_dsn())
    task = gator.task(sample_tasks.add, 1, 2)
    Worker(gator, max_tasks=1).run_forever()
    assert gator.status(task.task_id) == SUCCESS

    monkeypatch.delenv("ALLIGATOR_ALLOW")
    gator = Gator(_dsn())
    task = gator.task(sample_tasks.add, 1, 2)
    Worker(gator, max_tasks=1, allow=["sample_tasks:add"]).run_forever()
    assert gator.status(task.task_id) == SUCCESS


def test_a_gator_with_an_allow_list_refuses_other_modules_at_enqueue() -> None:
    gator = Gator(_dsn(), allow=["myapp"])
    with pytest.raises(TaskRefused, match="sample_tasks:add is not allowed"):
        gator.task(sample_tasks.add, 1, 2)
    assert gator.len() == 0


def test_hooks_need_allowing_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIGATOR_ALLOW", raising=False)
    gator = Gator(_dsn(), allow=["sample_tasks"])
    _push_raw(gator, "hooked", "sample_tasks", "noop", on_start="forbidden_module:run")
    Worker(gator, max_tasks=1).run_forever()
    [letter] = gator.dead_letters()
    assert "hook forbidden_module:run is not allowed" in letter.reason


def test_signed_payloads_rotation_unsigned_and_tampered() -> None:
    dsn = _dsn()
    old = Gator(dsn, allow=["sample_tasks"], secret=OLD_KEY)
    new = Gator(dsn, allow=["sample_tasks"], secret=[NEW_KEY, OLD_KEY])
    t_old = old.task(sample_tasks.add, 1, 1)
    t_new = new.task(sample_tasks.add, 2, 2)
    raw = [r.payload for r in new.backend.reserve(new.queue_name, 60, 2)]
    assert all(p.startswith(SIGNED_PREFIX) for p in raw)
    new.drop_all()
    new.backend.push(new.queue_name, t_old.task_id, raw[0])
    new.backend.push(new.queue_name, t_new.task_id, raw[1])
    tampered = raw[1].replace('"args":[2,2]', '"args":[2,3]')
    assert tampered != raw[1]
    new.backend.push(new.queue_name, "tampered", tampered)
    unsigned = Gator(dsn, allow=["sample_tasks"], secret=[])
    t_unsigned = unsigned.task(sample_tasks.add, 3, 3)
    Worker(new, max_tasks=4).run_forever()
    assert new.status(t_old.task_id) == SUCCESS, "an old key still verifies during rotation"
    assert new.status(t_new.task_id) == SUCCESS
    reasons = {d.task_id: d.reason for d in new.dead_letters()}
    assert "signature does not match" in reasons["tampered"]
    assert "not signed" in reasons[t_unsigned.task_id]


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLIGATOR_SECRET", NEW_KEY)
    gator = Gator(_dsn(), allow=["sample_tasks"])
    gator.task(sample_tasks.noop)
    [reservation] = gator.backend.reserve(gator.queue_name, 60)
    assert reservation.payload.startswith(SIGNED_PREFIX)


def test_payload_size_limit_at_enqueue_and_in_the_queue(gator: Gator) -> None:
    small = Gator(gator.conn_string, allow=["sample_tasks"], max_payload_bytes=1024)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 1024"):
        small.task(sample_tasks.record, "x" * 2000)
    assert small.len() == 0
    with pytest.raises(PayloadTooLargeError):
        gator.task(sample_tasks.record, "é" * 200_000)  # 400 KB in UTF-8
    small.backend.push(small.queue_name, "huge", "{" * 5000)
    ok = small.task(sample_tasks.record, "fits")
    # The backend dead-letters the oversized record itself: the worker never sees it.
    Worker(small, max_tasks=1).run_forever()
    [letter] = small.dead_letters()
    assert letter.task_id == "huge" and "over the limit" in letter.reason
    assert small.status(ok.task_id) == SUCCESS


def test_a_dotted_name_cannot_walk_out_of_an_allowed_module(tmp_path: object) -> None:
    # sample_tasks imports `os`; `sample_tasks:os.system` is allowed by name
    # but leads to posix.system.
    gator = Gator(_dsn(), allow=["sample_tasks"])
    _push_raw(gator, "walk", "sample_tasks", "os.system", args=["echo pwned"])
    _push_raw(gator, "hook-walk", "sample_tasks", "noop", on_start="sample_tasks:os.getcwd")
    _push_raw(gator, "nested-ok", "sample_tasks", "Namespace.static", args=[21])
    Worker(gator, max_tasks=3).run_forever()
    reasons = {d.task_id: d.reason for d in gator.dead_letters()}
    assert set(reasons) == {"walk", "hook-walk"}
    assert "leads to a function of module 'posix'" in reasons["walk"]
    assert reasons["hook-walk"].startswith("refused: hook sample_tasks:os.getcwd")
    assert gator.status("nested-ok") == SUCCESS


def test_hooks_are_checked_at_enqueue_and_worker_allow_entries_are_validated() -> None:
    gator = Gator(_dsn(), allow=["sample_tasks"])
    with pytest.raises(TaskRefused, match="hook os:system is not allowed"):
        with gator.options(on_error="os:system") as opts:
            opts.task(sample_tasks.noop)
    assert gator.len() == 0
    with pytest.raises(ValueError, match="not a module path"):
        Worker(gator, allow=["not a module"])


def test_the_size_limit_counts_the_signature() -> None:
    gator = Gator(_dsn(), allow=["sample_tasks"], secret=NEW_KEY, max_payload_bytes=400)
    body_only = Gator(_dsn(), allow=["sample_tasks"], max_payload_bytes=400)
    text = "x" * 200
    body_only.task(sample_tasks.record, text)  # fits without a signature
    with pytest.raises(PayloadTooLargeError):
        gator.task(sample_tasks.record, text)  # the signature pushes it over


def test_a_signed_payload_that_is_not_valid_unicode_never_runs() -> None:
    gator = Gator(_dsn(), allow=["sample_tasks"], secret=NEW_KEY)
    bad = SIGNED_PREFIX + 'ab.{"task_id": "\udc80"}'
    # The store refuses it (a planted one is dead-lettered by the backend
    # itself: the kit's unreadable-record tests); a backend that hands one
    # out anyway still gets it refused by the worker's policy.
    with pytest.raises(ValueError):
        gator.backend.push(gator.queue_name, "surrogate", bad)
    assert gator.len() == 0
    with pytest.raises(TaskRefused, match="not valid Unicode"):
        gator.policy.open(bad)


# -- signing keys (issue 8, finding 7) ----------------------------------------


@pytest.mark.parametrize("value", ["", " ", ",", " , ", "\n"])
def test_an_empty_alligator_secret_is_an_error_not_signing_off(value: str) -> None:
    with pytest.raises(ValueError, match=r"ALLIGATOR_SECRET.* is empty"):
        TaskPolicy.build(environ={"ALLIGATOR_SECRET": value})


@pytest.mark.parametrize("secret", ["", " ", "short", "x" * (MIN_SECRET_LENGTH - 1), [""], [NEW_KEY, "s"]])
def test_empty_and_short_keys_given_as_secret_are_refused(secret: str | list[str]) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        Gator(_dsn(), secret=secret)


def test_a_comma_in_the_environment_never_leaves_a_short_key_that_signs() -> None:
    # Once `"Zq,<40 chars>"` signed with "Zq" alone: brute-forced from one payload.
    with pytest.raises(ValueError, match=r"key 1 of 2 \(keys are separated by commas\) is 2 characters"):
        TaskPolicy.build(environ={"ALLIGATOR_SECRET": "Zq," + "k" * 40})
    policy = TaskPolicy.build(environ={"ALLIGATOR_SECRET": f" {NEW_KEY}, {OLD_KEY}\n"})
    assert policy.secrets == (NEW_KEY, OLD_KEY)


def test_a_string_given_as_secret_is_one_key_commas_and_all() -> None:
    key = "Zq," + "k" * 40
    policy = TaskPolicy.build(secret=key, environ={})
    assert policy.secrets == (key,)
    gator = Gator(_dsn(), allow=["sample_tasks"], secret=key)
    gator.task(sample_tasks.noop)
    [reservation] = gator.backend.reserve(gator.queue_name, 60)
    digest = reservation.payload[len(SIGNED_PREFIX) :].partition(".")[0]
    body = reservation.payload.partition(".")[2]
    assert digest == hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def test_keys_with_whitespace_at_an_end_are_refused_not_trimmed() -> None:
    with pytest.raises(ValueError, match="whitespace"):
        TaskPolicy.build(secret=NEW_KEY + "\n", environ={})
    with pytest.raises(ValueError, match="at least"):
        TaskPolicy(secrets=("short",))
    with pytest.raises(TypeError, match="bytes"):
        TaskPolicy.build(secret=b"k" * 40, environ={})  # type: ignore[arg-type]


def test_the_policy_says_whether_signing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIGATOR_SECRET", raising=False)
    assert Gator(_dsn()).policy.signing is False
    assert Gator(_dsn(), secret=NEW_KEY).policy.signing is True
    monkeypatch.setenv("ALLIGATOR_SECRET", NEW_KEY)
    assert Gator(_dsn()).policy.signing is True
    assert Gator(_dsn(), secret=[]).policy.signing is False


def test_a_refused_dotted_name_runs_no_code_of_the_allowed_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mod:settings.lazy.system` walks through an instance's property: refused, and the getter never runs."""
    name = f"lazymod_{uuid.uuid4().hex[:8]}"
    ran = tmp_path / "ran"
    (tmp_path / f"{name}.py").write_text(
        "import os\n"
        f"RAN = {str(ran)!r}\n"
        "def _mark(what):\n"
        "    open(RAN, 'a').write(what + '\\n')\n"
        "class Lazy:\n"
        "    @property\n"
        "    def lazy(self):\n"
        "        _mark('instance property')\n"
        "        return os\n"
        "    def __getattr__(self, name):\n"
        "        _mark('instance __getattr__')\n"
        "        return os\n"
        "class Meta(type):\n"
        "    @property\n"
        "    def lazy(cls):\n"
        "        _mark('class property')\n"
        "        return os\n"
        "class Config(metaclass=Meta):\n"
        "    @staticmethod\n"
        "    def static(x):\n"
        "        return x * 2\n"
        "    @classmethod\n"
        "    def klass(cls, x):\n"
        "        return (cls.__name__, x)\n"
        "settings = Lazy()\n"
        "def __getattr__(name):\n"
        "    _mark('module __getattr__')\n"
        "    return os\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    gator = Gator(_dsn(), allow=[name])
    names = ["settings.lazy.system", "settings.other.system", "Config.lazy.system", "nothing_here.system"]
    for index, dotted in enumerate(names):
        _push_raw(gator, f"walk-{index}", name, dotted, args=["echo pwned"])
    _push_raw(gator, "static", name, "Config.static", args=[21])
    _push_raw(gator, "klass", name, "Config.klass", args=[1])
    try:
        Worker(gator, max_tasks=len(names) + 2).run_forever()
    finally:
        sys.modules.pop(name, None)
    assert not ran.exists(), f"code of the allowed module ran: {ran.read_text()}"
    reasons = {d.task_id: d.reason for d in gator.dead_letters()}
    assert set(reasons) == {f"walk-{index}" for index in range(len(names))}
    assert (
        "walks into settings, a Lazy object; a task's name may lead through modules and classes only"
        in (reasons["walk-0"])
    )
    assert "walks into settings, a Lazy object" in reasons["walk-1"]
    assert "walks into Config.lazy, a property object" in reasons["walk-2"]
    assert "has no attribute 'nothing_here.system'" in reasons["walk-3"]
    assert gator.status("static") == SUCCESS and gator.status("klass") == SUCCESS


def test_a_results_signature_binds_its_task_queue_and_outcome() -> None:
    policy = TaskPolicy(secrets=(NEW_KEY,))
    sealed = policy.seal_result("q", "t1", "[1,2]")
    assert sealed.startswith("[1,2]\n" + SIGNED_PREFIX)
    assert len(sealed) == len("[1,2]") + OUTCOME_SIGNATURE_BYTES
    assert policy.open_result("q", "t1", sealed) == "[1,2]"
    for queue, task_id in (("q", "t2"), ("other", "t1")):
        with pytest.raises(ResultSignatureError, match="does not match"):
            policy.open_result(queue, task_id, sealed)
    with pytest.raises(ResultSignatureError, match="does not match"):
        policy.open_reason("q", "t1", sealed)  # a return value is not a failure reason
    reason = policy.seal_reason("q", "t1", "raised: boom")
    assert policy.open_reason("q", "t1", reason) == "raised: boom"
    with pytest.raises(ResultSignatureError, match="does not match"):
        policy.open_result("q", "t1", reason)
    # A payload's signature over the same text is no result's signature.
    digest = policy.seal("[1,2]")[len(SIGNED_PREFIX) :].partition(".")[0]
    with pytest.raises(ResultSignatureError, match="does not match"):
        policy.open_result("q", "t1", f"[1,2]\n{SIGNED_PREFIX}{digest}")


def test_a_records_signature_binds_its_kind_task_and_queue_and_no_result_passes_for_one() -> None:
    policy = TaskPolicy(secrets=(NEW_KEY,))
    sealed = policy.seal_record("runs", "q", "t1", '{"a":1}')
    assert policy.open_record("runs", "q", "t1", sealed) == '{"a":1}'
    for kind, queue, task_id in (("other", "q", "t1"), ("runs", "q", "t2"), ("runs", "x", "t1")):
        with pytest.raises(ResultSignatureError, match=r"record of task .* failed its signature check"):
            policy.open_record(kind, queue, task_id, sealed)
    with pytest.raises(ResultSignatureError, match="not signed"):
        policy.open_record("runs", "q", "t1", '{"a":1}')
    with pytest.raises(ResultSignatureError, match="does not match"):
        policy.open_record("runs", "q", "t1", policy.seal_result("q", "t1", '{"a":1}'))
    with pytest.raises(ResultSignatureError, match="does not match"):
        policy.open_result("q", "t1", sealed)
    # Without a secret nothing is signed, and nothing checked.
    assert TaskPolicy().seal_record("runs", "q", "t1", "{}") == "{}"
    assert TaskPolicy().open_record("runs", "q", "t1", sealed) == '{"a":1}'


def test_results_signed_with_an_old_key_verify_while_it_is_listed() -> None:
    old = TaskPolicy(secrets=(OLD_KEY,))
    sealed = old.seal_result("q", "t", "true")
    assert TaskPolicy(secrets=(NEW_KEY, OLD_KEY)).open_result("q", "t", sealed) == "true"
    with pytest.raises(ResultSignatureError, match="does not match"):
        TaskPolicy(secrets=(NEW_KEY,)).open_result("q", "t", sealed)
    # Without a secret nothing is checked; the signature is taken off.
    assert TaskPolicy().open_result("q", "t", sealed) == "true"
    assert TaskPolicy().open_result("q", "t", "true") == "true"


def test_a_long_reason_is_cut_to_fit_the_limit_with_its_signature() -> None:
    policy = TaskPolicy(secrets=(NEW_KEY,), max_payload_bytes=400)
    sealed = policy.seal_reason("q", "t", "x" * 1000 + "\nValueError: the end")
    assert len(sealed.encode()) <= 400
    opened = policy.open_reason("q", "t", sealed)
    assert opened.startswith("...\n") and opened.endswith("ValueError: the end")


def test_a_signed_gator_reads_its_workers_results_and_refuses_a_forged_one() -> None:
    gator = Gator(_dsn(), allow=["sample_tasks"], secret=NEW_KEY)
    done = gator.task(sample_tasks.add, 1, 2)
    failed = gator.options(retries=0).task(sample_tasks.fails_with, "boom")
    Worker(gator, max_tasks=2).run_forever()
    assert gator.result(done.task_id) == 3
    with pytest.raises(TaskFailed, match="ValueError: boom") as caught:
        gator.result(failed.task_id)
    assert SIGNED_PREFIX not in caught.value.reason
    (letter,) = gator.dead_letters()
    assert letter.reason.startswith("raised on attempt 1") and SIGNED_PREFIX not in letter.reason
    (info,) = gator.tasks("dead")
    assert info.reason == letter.reason

    forged = gator.task(sample_tasks.add, 2, 2)
    (reservation,) = gator.backend.reserve(gator.queue_name, 30.0)
    capabilities.results(gator.backend).ack_results(
        gator.queue_name, [Ack(reservation.task_id, reservation.receipt, "5")]
    )
    with pytest.raises(ResultSignatureError, match=f"task {forged.task_id} .* failed its signature check"):
        gator.result(forged.task_id)
