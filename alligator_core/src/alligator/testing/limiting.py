"""The kit's tests of the optional limits capability: rates and concurrency slots per key.

A backend that claims :class:`~alligator.limit_store.Limiting` adopts
:class:`LimitContract` beside :class:`~alligator.testing.contract.RequiredContract`::

    class TestMyBackend(RequiredContract, LimitContract):
        ...  # the same fixtures

Limit keys are global to a store, and a store the kit shares with other
tests (one Redis server) may hold others' keys meanwhile: every test uses
keys of its own. Times are the backend's clock: the tests that move time
use the kit's fake clock; those with a second client (whose clock is the
real one) use periods long enough that no time passes for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from alligator import capabilities
from alligator.backend import Backend
from alligator.limit_store import Limiting
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import ContractFixtures, assert_claims

#: Seconds of slack when comparing waits computed on the store's clock.
CLOSE = 1e-3
#: A period in which no real time passes for the tests with two clients.
HOUR = 3600.0


def _limiting(backend: Backend) -> Limiting:
    return capabilities.limiting(backend)


class LimitContract(ContractFixtures):
    """Rates and concurrency slots per key, atomic, on the store's clock, shared by every client."""

    @pytest.fixture
    def key(self) -> Callable[[str], str]:
        """``key(label)``: a limit key of this test's own."""
        tag = uuid.uuid4().hex[:12]
        return lambda label: f"kit-{tag}-{label}"

    def test_the_backend_claims_limiting(self, backend: Backend) -> None:
        assert_claims(backend, Limiting, "LimitContract")

    # -- rates -------------------------------------------------------------

    def test_a_rate_lets_count_go_at_once_then_one_per_interval(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("burst")
        assert [store.take_rate(k, f"h{i}", 3, 1.0) for i in range(3)] == [0.0, 0.0, 0.0]
        wait = store.take_rate(k, "h3", 3, 1.0)
        assert wait == pytest.approx(1 / 3, abs=CLOSE), "over the rate: wait for the next slot"
        clock.advance(1.0)
        assert store.take_rate(k, "h4", 3, 1.0) == 0.0, "a quiet period lets takes go again"

    def test_a_take_over_the_rate_books_one_slot_for_its_holder(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("book")
        assert store.take_rate(k, "first", 1, 1.0) == 0.0
        assert store.take_rate(k, "a", 1, 1.0) == pytest.approx(1.0, abs=CLOSE)
        assert store.take_rate(k, "b", 1, 1.0) == pytest.approx(2.0, abs=CLOSE), (
            "each waiting holder books the next free slot, not the same one"
        )
        clock.advance(0.25)
        assert store.take_rate(k, "a", 1, 1.0) == pytest.approx(0.75, abs=CLOSE), (
            "asking again before the slot says how long is left, booking nothing more"
        )
        clock.advance(0.75)
        assert store.take_rate(k, "a", 1, 1.0) == 0.0, "at its slot the holder goes"
        assert store.take_rate(k, "c", 1, 1.0) == pytest.approx(2.0, abs=CLOSE), (
            "b's slot is still booked; c books the one after"
        )
        assert store.take_rate(k, "a", 1, 1.0) == pytest.approx(3.0, abs=CLOSE), (
            "a used its booking; taking again is a new take"
        )

    def test_a_booking_left_unused_for_a_period_is_dropped(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("stale")
        assert store.take_rate(k, "first", 1, 1.0) == 0.0
        assert store.take_rate(k, "late", 1, 1.0) == pytest.approx(1.0, abs=CLOSE)
        clock.advance(2.5)  # the slot came at 1.0; the booking is kept until 2.0
        assert store.take_rate(k, "late", 1, 1.0) == 0.0, "the key is free again: a new take goes"
        assert store.take_rate(k, "late", 1, 1.0) == pytest.approx(1.0, abs=CLOSE), (
            "the stale booking is gone, not used on top of the new take"
        )

    def test_keys_are_counted_apart(self, clocked_backend: Backend, key: Callable[[str], str]) -> None:
        store = _limiting(clocked_backend)
        assert store.take_rate(key("a"), "h", 1, 1.0) == 0.0
        assert store.take_rate(key("b"), "h", 1, 1.0) == 0.0
        assert store.take_rate(key("a"), "g", 1, 1.0) > 0

    def test_a_rate_is_shared_by_every_client_of_the_store(
        self, backend: Backend, other_backend: Backend, key: Callable[[str], str]
    ) -> None:
        k = key("shared")
        mine, theirs = _limiting(backend), _limiting(other_backend)
        taken = [mine.take_rate(k, f"m{i}", 4, HOUR) for i in range(2)]
        taken += [theirs.take_rate(k, f"t{i}", 4, HOUR) for i in range(2)]
        assert taken == [0.0] * 4
        assert theirs.take_rate(k, "t-over", 4, HOUR) > 0, (
            "four of four per hour were taken by two clients together: a fifth waits"
        )
        assert mine.take_rate(k, "m-over", 4, HOUR) > 0

    # -- concurrency -------------------------------------------------------

    def test_at_most_limit_slots_are_held_at_once(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("slots")
        assert store.acquire_slot(k, "a", 2, 30.0) == 0.0
        clock.advance(5.0)
        assert store.acquire_slot(k, "b", 2, 30.0) == 0.0
        assert store.acquire_slot(k, "c", 2, 30.0) == pytest.approx(25.0, abs=CLOSE), (
            "refused: the wait is until the first held lease ends"
        )
        assert store.acquire_slot(k, "a", 2, 30.0) == 0.0, "a holder keeps its slot"
        assert store.release_slot(k, "b") is True
        assert store.release_slot(k, "b") is False
        assert store.acquire_slot(k, "c", 2, 30.0) == 0.0, "a slot given back is free at once"

    def test_a_slot_frees_itself_when_its_lease_ends(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("lease")
        assert store.acquire_slot(k, "killed", 1, 10.0) == 0.0
        clock.advance(9.999)
        assert store.acquire_slot(k, "next", 1, 10.0) > 0
        clock.advance(0.001)
        assert store.acquire_slot(k, "next", 1, 10.0) == 0.0, "the lease ended: its slot is free"
        assert store.extend_slot(k, "killed", 10.0) is False, "an ended slot cannot be extended"

    def test_extending_a_slot_keeps_it_past_its_first_lease(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, k = _limiting(clocked_backend), key("extend")
        assert store.acquire_slot(k, "long", 1, 10.0) == 0.0
        clock.advance(8.0)
        assert store.extend_slot(k, "long", 10.0) is True
        clock.advance(8.0)
        assert store.acquire_slot(k, "other", 1, 10.0) == pytest.approx(2.0, abs=CLOSE)
        assert store.extend_slot(k, "nobody", 10.0) is False

    def test_slots_are_shared_by_every_client_of_the_store(
        self, backend: Backend, other_backend: Backend, key: Callable[[str], str]
    ) -> None:
        k = key("shared-slots")
        mine, theirs = _limiting(backend), _limiting(other_backend)
        assert mine.acquire_slot(k, "m", 2, HOUR) == 0.0
        assert theirs.acquire_slot(k, "t", 2, HOUR) == 0.0
        assert theirs.acquire_slot(k, "t2", 2, HOUR) > 0, "two of two are held, one by each client"
        assert mine.release_slot(k, "t") is True, "any client may give a slot back"
        assert theirs.acquire_slot(k, "t2", 2, HOUR) == 0.0

    # -- listing -----------------------------------------------------------

    def test_limit_states_list_what_is_held_and_what_waits(
        self, clocked_backend: Backend, clock: FakeClock, key: Callable[[str], str]
    ) -> None:
        store, rate, slots = _limiting(clocked_backend), key("r"), key("c")
        store.take_rate(rate, "a", 2, 60.0)
        store.take_rate(rate, "b", 2, 60.0)
        store.take_rate(rate, "waits", 2, 60.0)
        store.acquire_slot(slots, "a", 1, 30.0)
        store.acquire_slot(slots, "waits", 1, 30.0)
        mine = [
            (s.kind, s.key, s.limit, s.held, s.waiting)
            for s in store.limit_states()
            if s.key in (rate, slots)
        ]
        assert mine == [("concurrency", slots, "1", 1, 1), ("rate", rate, "2/m", 2, 1)]
        clock.advance(3600.0)
        assert [s for s in store.limit_states() if s.key in (rate, slots)] == [], "nothing live is left"
