"""Shared fixtures of the cross-package tests."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import pytest
import sample_tasks
from hypothesis import HealthCheck, settings

from alligator import Gator

# A shell without job control starts its background jobs with SIGINT ignored
# (CI's lanes are such jobs), and an ignored signal stays ignored in every
# process started below: Python then installs no KeyboardInterrupt handler, so
# a command the tests stop with Ctrl-C (SIGINT) would never hear it. Caught
# here instead, it is reset to the default in each process a test starts.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Hypothesis's "too slow" health check times how fast examples are drawn; on a
# busy 2-core machine (CI runs three lanes at once) a strategy that draws large
# values is sometimes slow for reasons that are not the test's, and the check
# failed a run that the same examples pass. The examples are checked all the same.
settings.register_profile("busy-machine", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("busy-machine")


@pytest.fixture(autouse=True)
def _clean_sample_state() -> Iterator[None]:
    sample_tasks.CALLS.clear()
    sample_tasks.ATTEMPTS.clear()
    yield


@pytest.fixture
def gator() -> Iterator[Gator]:
    """A gator on a private in-memory store, allowed to run the sample tasks."""
    g = Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks"])
    yield g
    g.drop_all()
