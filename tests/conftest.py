"""Shared fixtures of the cross-package tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sample_tasks

from alligator import Gator


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
