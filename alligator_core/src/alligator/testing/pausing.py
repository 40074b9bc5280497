"""The kit's tests of the optional pause capability: ``set_paused()`` and ``paused()``.

A backend that claims :class:`~alligator.capabilities.Pausing` adopts
:class:`PauseContract` beside :class:`~alligator.testing.contract.RequiredContract`
(:class:`~alligator.testing.contract.BackendContract` includes it)::

    class TestMyBackend(RequiredContract, PauseContract):
        ...  # the same fixtures

Pauses are one set per store, and a store the kit shares with other tests
(one Redis server) may hold others' pauses meanwhile: these tests look only
at the names they made (unique to the test) and resume them all afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from alligator import capabilities
from alligator.constants import WAITING
from alligator.pausing import MAX_PAUSE_NAME_BYTES
from alligator.testing.capable import CapableBackend
from alligator.testing.fixtures import ContractFixtures, assert_claims

#: ``pause_name(kind, label)``: a name of that kind unique to the test.
PauseName = Callable[[str, str], str]


class PauseContract(ContractFixtures):
    """``set_paused`` keeps pauses in the store, idempotently; ``paused`` lists them, sorted."""

    @pytest.fixture
    def pause_name(self, backend: CapableBackend) -> Iterator[PauseName]:
        """``pause_name(kind, label)``: a queue or function name of this test's own, resumed afterwards."""
        tag = uuid.uuid4().hex[:12]
        made: list[tuple[str, str]] = []

        def make(kind: str, label: str) -> str:
            name = f"kit_{tag}.tasks:{label}" if kind == "function" else f"kit-{tag}-{label}"
            made.append((kind, name))
            return name

        yield make
        for kind, name in made:
            backend.set_paused(kind, name, False)

    @staticmethod
    def _my_pauses(backend: CapableBackend, names: list[str]) -> list[tuple[str, str]]:
        return [(kind, name) for kind, name in backend.paused() if name in names]

    def test_the_backend_says_it_can_pause(self, backend: CapableBackend) -> None:
        assert capabilities.supports(backend, capabilities.Pausing), (
            "a backend that adopts PauseContract writes set_paused and paused, or workers never ask it"
        )
        assert_claims(backend, capabilities.Pausing, "PauseContract")

    def test_pause_and_resume_are_idempotent_and_say_whether_anything_changed(
        self, backend: CapableBackend, pause_name: PauseName
    ) -> None:
        queue, function = pause_name("queue", "q"), pause_name("function", "f")
        assert backend.set_paused("queue", queue, True) is True
        assert backend.set_paused("queue", queue, True) is False, "pausing what is paused changes nothing"
        assert backend.set_paused("function", function, True) is True
        assert self._my_pauses(backend, [queue, function]) == [("function", function), ("queue", queue)]
        assert backend.set_paused("queue", queue, False) is True
        assert backend.set_paused("queue", queue, False) is False, (
            "resuming what is not paused changes nothing"
        )
        assert self._my_pauses(backend, [queue, function]) == [("function", function)]

    def test_a_queue_and_a_function_of_the_same_name_are_apart(
        self, backend: CapableBackend, pause_name: PauseName
    ) -> None:
        # A queue may well be called like a function.
        name = pause_name("function", "same")
        try:
            assert backend.set_paused("queue", name, True) is True
            assert self._my_pauses(backend, [name]) == [("queue", name)]
            assert backend.set_paused("function", name, False) is False
            assert self._my_pauses(backend, [name]) == [("queue", name)]
        finally:
            backend.set_paused("queue", name, False)

    def test_paused_lists_sorted_by_kind_then_name(
        self, backend: CapableBackend, pause_name: PauseName
    ) -> None:
        names = [pause_name("queue", label) for label in ("b", "a", "é", "c")]
        functions = [pause_name("function", label) for label in ("z", "y")]
        for name in names:
            backend.set_paused("queue", name, True)
        for name in functions:
            backend.set_paused("function", name, True)
        mine = self._my_pauses(backend, names + functions)
        assert mine == sorted(("function", n) for n in functions) + sorted(("queue", n) for n in names)

    def test_another_client_of_the_store_sees_the_pause(
        self, backend: CapableBackend, other_backend: CapableBackend, pause_name: PauseName
    ) -> None:
        queue = pause_name("queue", "shared")
        backend.set_paused("queue", queue, True)
        assert self._my_pauses(other_backend, [queue]) == [("queue", queue)]
        assert other_backend.set_paused("queue", queue, False) is True
        assert self._my_pauses(backend, [queue]) == []

    @pytest.mark.parametrize(
        ("kind", "name", "says"),
        [
            ("topic", "q", "one of queue, function"),
            ("queue", "", "non-empty string"),
            ("queue", "x" * (MAX_PAUSE_NAME_BYTES + 1), "over the limit"),
            ("queue", "é" * (MAX_PAUSE_NAME_BYTES // 2 + 1), "over the limit"),
            ("queue", "bad\udc80", "not valid text"),
            ("function", "no_colon", "module:name"),
            ("function", "mod:", "module:name"),
            ("function", "a b:c", "module:name"),
        ],
    )
    def test_a_bad_kind_or_name_is_refused_and_nothing_changes(
        self, backend: CapableBackend, kind: str, name: str, says: str
    ) -> None:
        before = backend.paused()
        for paused in (True, False):
            with pytest.raises(ValueError, match=says):
                backend.set_paused(kind, name, paused)
        assert backend.paused() == before

    def test_the_longest_name_is_kept(self, backend: CapableBackend, pause_name: PauseName) -> None:
        prefix = pause_name("queue", "")
        name = prefix + "é" * ((MAX_PAUSE_NAME_BYTES - len(prefix)) // 2)
        name += "x" * (MAX_PAUSE_NAME_BYTES - len(name.encode()))
        assert len(name.encode()) == MAX_PAUSE_NAME_BYTES
        try:
            assert backend.set_paused("queue", name, True) is True
            assert self._my_pauses(backend, [name]) == [("queue", name)]
        finally:
            backend.set_paused("queue", name, False)

    def test_at_most_max_pauses_are_kept(
        self, backend: CapableBackend, pause_name: PauseName, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        others = len(backend.paused())
        monkeypatch.setattr(backend, "max_pauses", others + 2)
        first, second, third = (pause_name("queue", label) for label in ("1", "2", "3"))
        assert backend.set_paused("queue", first, True) is True
        assert backend.set_paused("queue", second, True) is True
        with pytest.raises(ValueError, match="at most"):
            backend.set_paused("queue", third, True)
        assert self._my_pauses(backend, [first, second, third]) == [("queue", first), ("queue", second)]
        assert backend.set_paused("queue", first, True) is False, "pausing what is paused needs no room"
        assert backend.set_paused("queue", first, False) is True
        assert backend.set_paused("queue", third, True) is True, "a resume makes room"

    def test_pausing_moves_no_task(self, backend: CapableBackend, queue: str) -> None:
        backend.push(queue, "t1", "payload")
        backend.push(queue, "t2", "payload", delay=60.0)
        before = (backend.len(queue), backend.status(queue, "t1"))
        backend.set_paused("queue", queue, True)
        try:
            assert (backend.len(queue), backend.status(queue, "t1")) == before == (2, WAITING)
        finally:
            backend.set_paused("queue", queue, False)
        assert backend.len(queue) == 2
