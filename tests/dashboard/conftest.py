"""Fixtures of the dashboard's tests: a store with tasks in every state, and the app on it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from alligator import Gator
from alligator.dashboard import create_app
from alligator.dashboard.data import Store

XSS = "<script>window.x=1</script>"


@pytest.fixture
def queue_gator() -> Iterator[Gator]:
    """A gator on a private locmem store, queue "emails": 2 waiting, 1 delayed, 2 dead."""
    g = Gator(f"locmem://{uuid.uuid4().hex}", queue_name="emails", allow=["sample_tasks"])
    import sample_tasks

    with g.options(task_id="dead-1", retries=0) as opts:
        opts.task(sample_tasks.always_fails, XSS)
    with g.options(task_id="dead-2", retries=0) as opts:
        opts.task(sample_tasks.always_fails, "second")
    g.pop()
    g.pop()
    g.options(task_id="xss").task(sample_tasks.echo, XSS, key=XSS)
    g.options(task_id="plain").task(sample_tasks.add, 1, 2)
    g.options(task_id="later", delay_by=600).task(sample_tasks.noop)
    yield g
    g.drop_all()


def make_client(gator: Gator, **kwargs: Any) -> Any:
    app = create_app(Store(gator.conn_string, gator), sample=False, **kwargs)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture
def client(queue_gator: Gator) -> Any:
    """A test client of the dashboard (no password, loopback)."""
    return make_client(queue_gator)


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)
