"""The queue page lists the unique keys held, each with a link to its holder (Flask's test client)."""

from __future__ import annotations

import uuid
from typing import Any

import sample_tasks
from conftest import make_client

from alligator import Gator
from alligator.testing.capable import without
from alligator.unique_store import UniqueKeys
from alligator_locmem import LocmemBackend


def test_the_queue_page_lists_the_keys_held_and_not_the_released(client: Any, queue_gator: Gator) -> None:
    held = queue_gator.options(unique_for=600, unique_key="report-<2026>").task(sample_tasks.add, 1, 2)
    gone = queue_gator.options(unique_for=600, unique_key="gone").task(sample_tasks.add, 3, 4)
    assert queue_gator.cancel(gone.task_id)
    page = client.get("/queue?name=emails").get_data(as_text=True)
    assert 'id="unique-keys"' in page
    assert '<tr data-key="report-&lt;2026&gt;">' in page, "the key is shown escaped"
    assert f"/task?queue=emails&amp;id={held.task_id}" in page
    assert "until_finished" in page
    assert 'data-key="gone"' not in page


def test_no_section_when_nothing_is_held_or_the_store_keeps_no_keys(client: Any) -> None:
    assert 'id="unique-keys"' not in client.get("/queue?name=emails").get_data(as_text=True)
    lacking = Gator(
        f"locmem://{uuid.uuid4().hex}",
        queue_name="emails",
        backend_class=without(LocmemBackend, UniqueKeys),
        allow=["sample_tasks"],
    )
    lacking.task(sample_tasks.add, 1, 2)
    page = make_client(lacking).get("/queue?name=emails").get_data(as_text=True)
    assert 'id="unique-keys"' not in page, "a store without the capability shows no section"
