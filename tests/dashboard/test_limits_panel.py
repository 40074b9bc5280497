"""The dashboard's overview lists the limit keys in use, escaped; a store without limits shows none."""

from __future__ import annotations

from typing import Any

from conftest import XSS

from alligator import Gator, capabilities
from alligator.dashboard.data import Store
from alligator.dashboard.web import create_app
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend


def test_the_overview_lists_the_limit_keys_held_and_waiting(client: Any, queue_gator: Gator) -> None:
    limiting = capabilities.limiting(queue_gator.backend)
    for holder in ("a", "b", "waits"):
        limiting.take_rate("github", holder, 2, 3600.0)
    limiting.acquire_slot(XSS, "running", 1, 3600.0)
    html = client.get("/").get_data(as_text=True)
    assert 'id="limits"' in html
    assert '<tr data-limit-kind="rate" data-limit-key="github">' in html
    assert "<td>2/h</td>" in html
    assert XSS not in html, "a key is text from the store: escaped"
    assert "&lt;script&gt;" in html
    assert 'id="limits"' in client.get("/partials/overview").get_data(as_text=True)


def test_no_panel_when_nothing_is_limited_or_the_store_cannot_limit(client: Any, queue_gator: Gator) -> None:
    assert 'id="limits"' not in client.get("/").get_data(as_text=True)
    store = Store(queue_gator.conn_string, queue_gator)
    store.admin.backend = without(LocmemBackend, capabilities.Limiting)(queue_gator.conn_string)
    assert store.limits() is None
    html = create_app(store, sample=False).test_client().get("/").get_data(as_text=True)
    assert 'id="limits"' not in html
