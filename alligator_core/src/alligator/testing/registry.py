"""The kit's tests of the live-worker registry and of ``diagnose()``.

:class:`WorkerRegistryContract` is the kit mixin of
:class:`~alligator.capabilities.WorkerRegistry`, :class:`DiagnoseContract` that
of :class:`~alligator.capabilities.Diagnosis`; each begins with a test that
the backend claims its capability, and both are optional: a backend without
a worker registry adopts :class:`~alligator.testing.contract.RequiredContract`
without them.

The registry is one per store, not per queue, and a store the kit shares with
other tests (one Redis server) may hold records of real workers meanwhile. So
these tests look only at the worker ids they made, forget them afterwards,
and run on a fake clock set far in the past: their records are always the
oldest in the store (the bound on :attr:`~alligator.backend.Backend.max_workers`
drops theirs first), and moving that clock never makes anyone else's record
look expired.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from alligator import capabilities
from alligator.backend import Backend
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import ContractFixtures, assert_claims

#: How far in the past the registry tests' clock starts (30 days).
PAST = 30 * 24 * 3600.0

#: The levels a finding of :meth:`~alligator.capabilities.Diagnosis.diagnose` may have.
LEVELS = ("error", "warning", "ok")
#: The kinds a risk of :meth:`~alligator.capabilities.Diagnosis.task_loss_risks` may have.
RISK_KINDS = ("eviction", "no-persistence")


class WorkerRegistryContract(ContractFixtures):
    """``heartbeat`` keeps one record per live worker for its TTL, at most ``max_workers`` of them.

    ``forget_worker`` drops one; ``worker_records`` lists them, oldest
    heartbeat first.
    """

    @pytest.fixture
    def past_clock(self, backend: CapableBackend) -> Iterator[FakeClock]:
        """A fake clock a month in the past, installed as the backend's clock."""
        fake = FakeClock(time.time() - PAST)
        backend.clock = fake
        yield fake
        backend.clock = None

    def test_the_backend_claims_a_worker_registry(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.WorkerRegistry, "WorkerRegistryContract")

    @pytest.fixture
    def worker_id(self, backend: CapableBackend) -> Iterator[Callable[[str], str]]:
        """``worker_id(name)``: a worker id unique to this test; every one is forgotten afterwards."""
        prefix = f"kit-{uuid.uuid4().hex[:12]}"
        made: list[str] = []

        def make(name: str) -> str:
            made.append(f"{prefix}-{name}")
            return made[-1]

        yield make
        for made_id in made:
            backend.forget_worker(made_id)

    @staticmethod
    def _mine(backend: CapableBackend, ids: list[str]) -> list[tuple[str, str]]:
        """The listed records among ``ids``, in the order listed."""
        return [(worker, record) for worker, record in backend.worker_records() if worker in ids]

    def test_worker_records_lists_live_workers_oldest_heartbeat_first(
        self, backend: CapableBackend, past_clock: FakeClock, worker_id: Callable[[str], str]
    ) -> None:
        ids = [worker_id(name) for name in ("b", "a", "c")]
        records = [f'{{"n": {n}, "text": "é \\u0000 \U0001f40a"}}' for n in range(len(ids))]
        for made, record in zip(ids, records, strict=True):
            backend.heartbeat(made, record, 30.0)
            past_clock.advance(1.0)
        assert self._mine(backend, ids) == list(zip(ids, records, strict=True))

    def test_a_heartbeat_replaces_the_record_and_moves_it_last(
        self, backend: CapableBackend, past_clock: FakeClock, worker_id: Callable[[str], str]
    ) -> None:
        first, second = worker_id("first"), worker_id("second")
        backend.heartbeat(first, "v1", 30.0)
        past_clock.advance(1.0)
        backend.heartbeat(second, "v1", 30.0)
        past_clock.advance(1.0)
        backend.heartbeat(first, "v2", 30.0)
        assert self._mine(backend, [first, second]) == [(second, "v1"), (first, "v2")]

    def test_a_worker_record_expires_after_its_ttl_on_the_backend_clock(
        self, backend: CapableBackend, past_clock: FakeClock, worker_id: Callable[[str], str]
    ) -> None:
        short, long = worker_id("short"), worker_id("long")
        backend.heartbeat(short, "s", 10.0)
        backend.heartbeat(long, "l", 100.0)
        past_clock.advance(5.0)
        # Same heartbeat time: their order is the store's to choose.
        assert sorted(self._mine(backend, [short, long])) == sorted([(short, "s"), (long, "l")]), (
            "alive at half its TTL"
        )
        past_clock.advance(6.0)
        assert self._mine(backend, [short, long]) == [(long, "l")], "gone once its TTL passed"
        backend.heartbeat(short, "back", 10.0)
        assert self._mine(backend, [short, long]) == [(long, "l"), (short, "back")], "a heartbeat revives it"

    def test_a_refresh_restarts_the_ttl(
        self, backend: CapableBackend, past_clock: FakeClock, worker_id: Callable[[str], str]
    ) -> None:
        made = worker_id("w")
        backend.heartbeat(made, "r", 10.0)
        for _ in range(5):
            past_clock.advance(6.0)
            backend.heartbeat(made, "r", 10.0)
        assert self._mine(backend, [made]) == [(made, "r")]

    def test_the_registry_keeps_at_most_max_workers(
        self,
        backend: CapableBackend,
        past_clock: FakeClock,
        worker_id: Callable[[str], str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Others' records (real workers on a shared store) are newer than
        # these, so the bound drops the oldest of ours only.
        others = len(backend.worker_records())
        monkeypatch.setattr(backend, "max_workers", others + 3)
        ids = [worker_id(f"w{n}") for n in range(5)]
        for made in ids:
            backend.heartbeat(made, made, 3600.0)
            past_clock.advance(1.0)
        assert [w for w, _ in self._mine(backend, ids)] == ids[2:], "the oldest heartbeats are dropped"
        assert len(backend.worker_records()) <= others + 3

    def test_forget_worker_removes_its_record(
        self, backend: CapableBackend, past_clock: FakeClock, worker_id: Callable[[str], str]
    ) -> None:
        gone, stays = worker_id("gone"), worker_id("stays")
        backend.heartbeat(gone, "g", 30.0)
        backend.heartbeat(stays, "s", 30.0)
        assert backend.forget_worker(gone) is True
        assert self._mine(backend, [gone, stays]) == [(stays, "s")]
        assert backend.forget_worker(gone) is False, "nothing left to forget"
        assert backend.forget_worker(worker_id("never")) is False

    def test_a_record_over_the_size_limit_is_never_transferred(
        self,
        backend: CapableBackend,
        past_clock: FakeClock,
        worker_id: Callable[[str], str],
        payload_limit: Callable[[int], None],
    ) -> None:
        big, small = worker_id("big"), worker_id("small")
        backend.heartbeat(big, "é" * 40, 30.0)  # 80 bytes of UTF-8
        backend.heartbeat(small, "s" * 64, 30.0)
        payload_limit(64)
        assert self._mine(backend, [big, small]) == [(small, "s" * 64)]


class DiagnoseContract(ContractFixtures):
    """``diagnose()`` returns ``(level, problem, what_to_do)`` findings with a known level;
    ``task_loss_risks()`` returns ``(kind, problem)`` risks of a known kind."""

    def test_the_backend_claims_diagnosis(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.Diagnosis, "DiagnoseContract")

    def test_task_loss_risks_are_of_known_kinds(self, backend: CapableBackend) -> None:
        risks = backend.task_loss_risks()
        assert isinstance(risks, list)
        for risk in risks:
            assert isinstance(risk, tuple) and len(risk) == 2, risk
            kind, problem = risk
            assert kind in RISK_KINDS, f"kind {kind!r} is not one of {RISK_KINDS}"
            assert isinstance(problem, str) and problem.strip(), "a risk says what was found"

    def test_diagnose_returns_findings_with_known_levels(self, backend: CapableBackend) -> None:
        findings = backend.diagnose()
        assert isinstance(findings, list)
        for finding in findings:
            assert isinstance(finding, tuple) and len(finding) == 3, finding
            level, problem, what_to_do = finding
            assert level in LEVELS, f"level {level!r} is not one of {LEVELS}"
            assert isinstance(problem, str) and problem.strip(), "a finding says what it found"
            assert isinstance(what_to_do, str), "and what to do (possibly nothing)"
