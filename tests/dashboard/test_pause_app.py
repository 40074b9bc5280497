"""The dashboard's pause route and gauges through Flask's test client (the browser test drives the page)."""

from __future__ import annotations

from typing import Any

from conftest import csrf_of

from alligator import Gator


def _post(client: Any, **form: str) -> Any:
    token = csrf_of(client.get("/queue?name=emails").get_data(as_text=True))
    return client.post("/pause", data={"csrf_token": token, **form})


def test_the_queue_page_pauses_and_resumes_its_queue(client: Any, queue_gator: Gator) -> None:
    page = client.get("/queue?name=emails").get_data(as_text=True)
    assert 'class="pause"' in page and 'id="paused"' not in page
    answer = _post(client, kind="queue", name="emails", paused="1")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/queue?name=emails")
    assert queue_gator.paused() == [("queue", "emails")]
    page = client.get("/queue?name=emails").get_data(as_text=True)
    assert 'id="paused"' in page and "Paused queue emails." in page
    overview = client.get("/").get_data(as_text=True)
    assert '<span class="paused">paused</span>' in overview and 'data-paused-name="emails"' in overview
    body = client.get("/metrics").get_data(as_text=True)
    assert 'alligator_queue_paused{queue="emails"} 1.0' in body
    _post(client, kind="queue", name="emails", paused="0")
    assert queue_gator.paused() == []
    assert 'alligator_queue_paused{queue="emails"} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_a_paused_function_is_listed_and_gauged(client: Any, queue_gator: Gator) -> None:
    queue_gator.pause(function="sample_tasks:echo")
    overview = client.get("/").get_data(as_text=True)
    assert 'data-paused-kind="function" data-paused-name="sample_tasks:echo"' in overview
    body = client.get("/metrics").get_data(as_text=True)
    assert 'alligator_function_paused{function="sample_tasks:echo"} 1.0' in body
    answer = _post(client, kind="function", name="sample_tasks:echo", paused="0")
    assert answer.status_code == 303 and queue_gator.paused() == []


def test_bad_pause_requests_are_refused_and_change_nothing(client: Any, queue_gator: Gator) -> None:
    assert _post(client, kind="queue", name="emails").status_code == 400, "pause or resume?"
    assert _post(client, kind="topic", name="emails", paused="1").status_code == 400
    refused = _post(client, kind="function", name="<b>no colon</b>", paused="1")
    assert refused.status_code == 400 and "<b>" not in refused.get_data(as_text=True)
    assert client.post("/pause", data={"kind": "queue", "name": "emails", "paused": "1"}).status_code == 403
    assert queue_gator.paused() == []
