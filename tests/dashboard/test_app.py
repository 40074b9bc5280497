"""The dashboard's pages, actions and defences, through Flask's test client on a locmem store."""

from __future__ import annotations

import base64
import re
from typing import Any

from conftest import XSS, csrf_of, make_client

from alligator import Gator
from alligator.dashboard.data import Store, view_payload
from alligator.dashboard.web import CSP, create_app


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def cell(html: str, queue: str, state: str) -> int:
    row = re.search(rf'<tr data-queue="{re.escape(queue)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"no row for {queue}"
    found = re.search(rf'data-state="{state}">\s*(?:<a [^>]*>)?(\d+)', row.group(1))
    assert found, f"no {state} count for {queue}"
    return int(found.group(1))


def test_overview_shows_the_stores_counts(client: Any, queue_gator: Gator) -> None:
    html = text(client.get("/"))
    counts = queue_gator.counts()
    for state in ("waiting", "delayed", "running", "dead"):
        assert cell(html, "emails", state) == getattr(counts, state)
    assert (counts.waiting, counts.delayed, counts.dead) == (2, 1, 2)
    # The fragment the page's script refreshes says the same.
    assert cell(text(client.get("/partials/overview")), "emails", "waiting") == 2


def test_overview_says_when_no_worker_registry(queue_gator: Gator) -> None:
    class NoRegistry(Store):
        def workers(self) -> None:
            return None

    app = create_app(NoRegistry(queue_gator.conn_string, queue_gator), sample=False)
    assert "Worker registry unavailable" in text(app.test_client().get("/"))


def test_queue_view_lists_tasks_per_state_with_paging(client: Any, queue_gator: Gator) -> None:
    import sample_tasks

    with queue_gator.batch() as batch:
        for n in range(60):
            batch.task(sample_tasks.add, n, 1)
    first = text(client.get("/queue?name=emails&state=waiting"))
    assert first.count("<tr data-task=") == 50
    assert "sample_tasks:add" in first and "1, 2" in first
    assert 'rel="next"' in first
    second = text(client.get("/queue?name=emails&state=waiting&offset=50"))
    assert second.count("<tr data-task=") == 12
    assert 'rel="next"' not in second and 'rel="prev"' in second
    delayed = text(client.get("/queue?name=emails&state=delayed"))
    assert 'data-task="later"' in delayed and re.search(r"in (9|10)m", delayed)


def test_payloads_reasons_and_ids_are_escaped(client: Any) -> None:
    for url in ["/", "/queue?name=emails", "/dead?queue=emails", "/task?queue=emails&id=xss"]:
        html = text(client.get(url))
        assert "<script>window" not in html, url
    assert "&lt;script&gt;window.x=1&lt;/script&gt;" in text(client.get("/task?queue=emails&id=xss"))
    # A hostile queue name and task id, too.
    html = text(client.get("/task", query_string={"queue": XSS, "id": XSS}))
    assert "<script>window" not in html and "unknown" in html


def test_every_response_carries_the_security_headers(client: Any) -> None:
    for url in ["/", "/dead?queue=emails", "/static/dashboard.js", "/nope"]:
        response = client.get(url)
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
    # No inline script anywhere: the page's script is a static file.
    assert re.search(r"<script(?![^>]*\bsrc=)", text(client.get("/"))) is None


def test_dead_letters_show_reason_traceback_payload_and_attempts(client: Any) -> None:
    html = text(client.get("/dead?queue=emails"))
    assert 'data-task="dead-1"' in html and 'data-task="dead-2"' in html
    assert "Traceback" in html and "RuntimeError: second" in html
    assert "after 1 attempt." in html and "attempt(s)" not in html
    assert "sample_tasks:always_fails" in html


def act(client: Any, confirm_url: str) -> Any:
    page = text(client.get(confirm_url))
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
    return client.post("/action", data=form)


def test_requeue_and_delete_one_dead_letter_after_confirming(client: Any, queue_gator: Gator) -> None:
    # The confirmation page changes nothing.
    client.get("/confirm?queue=emails&action=requeue&id=dead-1")
    assert queue_gator.counts().dead == 2
    response = act(client, "/confirm?queue=emails&action=requeue&id=dead-1")
    assert response.status_code == 303
    assert queue_gator.status("dead-1") == 0 and queue_gator.counts().dead == 1
    assert "Requeued dead-1." in text(client.get(response.headers["Location"]))
    act(client, "/confirm?queue=emails&action=delete&id=dead-2")
    assert queue_gator.counts().dead == 0 and queue_gator.status("dead-2") is None


def test_requeue_all_and_purge_after_confirming(client: Any, queue_gator: Gator) -> None:
    assert "all 2 dead letters" in text(client.get("/confirm?queue=emails&action=purge"))
    act(client, "/confirm?queue=emails&action=requeue_all")
    assert queue_gator.counts().dead == 0 and queue_gator.counts().waiting == 4
    for _ in range(4):
        queue_gator.pop()
    assert queue_gator.counts().dead == 2
    act(client, "/confirm?queue=emails&action=purge")
    assert queue_gator.counts().dead == 0


def test_a_post_without_the_csrf_token_is_refused(client: Any, queue_gator: Gator) -> None:
    client.get("/")  # a session with a token exists
    for form in [
        {"action": "purge", "queue": "emails"},
        {"action": "purge", "queue": "emails", "csrf_token": "forged"},
    ]:
        response = client.post("/action", data=form)
        assert response.status_code == 403
    assert queue_gator.counts().dead == 2


def test_a_cross_origin_post_is_refused_even_with_the_token(client: Any, queue_gator: Gator) -> None:
    token = csrf_of(text(client.get("/confirm?queue=emails&action=purge")))
    response = client.post(
        "/action",
        data={"action": "purge", "queue": "emails", "csrf_token": token},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403 and queue_gator.counts().dead == 2


def test_get_never_changes_anything(client: Any, queue_gator: Gator) -> None:
    before = queue_gator.counts()
    for url in ["/action?action=purge&queue=emails", "/confirm?queue=emails&action=purge"]:
        client.get(url)
    assert client.get("/action?action=purge&queue=emails").status_code == 405
    assert queue_gator.counts() == before


def test_task_view_shows_status_payload_attempts_and_reason(client: Any, queue_gator: Gator) -> None:
    html = text(client.get("/task?queue=emails&id=dead-1"))
    assert 'id="status" class="status-failed">failed' in html
    assert 'id="attempts">1' in html
    assert "RuntimeError" in html and "always_fails" in html
    waiting = text(client.get("/task?queue=emails&id=plain"))
    assert ">waiting<" in waiting and "sample_tasks" in waiting
    queue_gator.get("plain")
    done = text(client.get("/task?queue=emails&id=plain"))
    assert ">success<" in done


def test_dsn_secrets_are_never_shown(queue_gator: Gator) -> None:
    app = create_app(Store("redis://:hunter2secret@localhost:6379/0", queue_gator), sample=False)
    html = text(app.test_client().get("/"))
    assert "hunter2secret" not in html and "***" in html


def test_requests_for_a_non_loopback_host_are_refused_when_bound_to_loopback(client: Any) -> None:
    assert client.get("/", headers={"Host": "rebound.example:8765"}).status_code == 400
    assert client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200


def test_with_a_password_pages_need_a_login(queue_gator: Gator) -> None:
    client = make_client(queue_gator, password="correct horse battery", loopback_only=False)
    response = client.get("/dead?queue=emails")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    refresh = client.get("/partials/overview")
    assert refresh.status_code == 401 and "WWW-Authenticate" not in refresh.headers  # no dialog
    scrape = client.get("/metrics")
    assert scrape.status_code == 401 and scrape.headers["WWW-Authenticate"].startswith("Basic")
    login = text(client.get(response.headers["Location"]))
    assert "locmem://" not in login  # which store it is, is for those let in
    token = csrf_of(login)
    wrong = client.post("/login", data={"csrf_token": token, "password": "nope", "next": "/"})
    assert wrong.status_code == 200 and "Wrong password" in text(wrong)
    right = client.post(
        "/login",
        data={"csrf_token": token, "password": "correct horse battery", "next": "/dead?queue=emails"},
    )
    assert right.status_code == 303 and right.headers["Location"].endswith("/dead?queue=emails")
    assert 'data-task="dead-1"' in text(client.get("/dead?queue=emails"))
    # Logging in made a new CSRF token: the one from before does not work.
    assert (
        client.post("/action", data={"action": "purge", "queue": "emails", "csrf_token": token}).status_code
        == 403
    )


def test_login_never_redirects_off_site(queue_gator: Gator) -> None:
    client = make_client(queue_gator, password="correct horse battery", loopback_only=False)
    token = csrf_of(text(client.get("/login")))
    response = client.post(
        "/login", data={"csrf_token": token, "password": "correct horse battery", "next": "//evil.example/"}
    )
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_scrapers_use_the_token_in_a_header(queue_gator: Gator) -> None:
    client = make_client(queue_gator, password="correct horse battery", loopback_only=False)
    bearer = client.get("/metrics", headers={"Authorization": "Bearer correct horse battery"})
    assert bearer.status_code == 200
    basic = base64.b64encode(b"prometheus:correct horse battery").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_match_the_stores_counts(client: Any, queue_gator: Gator) -> None:
    body = text(client.get("/metrics"))
    counts = queue_gator.counts()
    for state in ("waiting", "delayed", "running", "dead"):
        assert (
            f'alligator_queue_tasks{{queue="emails",state="{state}"}} {float(getattr(counts, state))}' in body
        )
    queue_gator.pop()
    body = text(client.get("/metrics"))
    assert f'alligator_queue_tasks{{queue="emails",state="waiting"}} {float(counts.waiting - 1)}' in body


def test_view_payload_never_raises_on_garbage() -> None:
    assert view_payload("not json").function == ""
    assert view_payload("[1, 2]").args == "[1, 2]"
    assert view_payload('{"module": 1}').function == ""
    signed = view_payload('hmac-sha256:abc.{"module": "m", "callable": "f", "args": [], "kwargs": {"a": 1}}')
    assert signed.signed and signed.function == "m:f" and signed.args == "a=1"
    assert len(view_payload('{"args": ["' + "x" * 500 + '"]}').args) == 80


def test_browsers_send_their_origin_on_form_posts(client: Any, queue_gator: Gator) -> None:
    # With "Referrer-Policy: no-referrer" Chromium sends "Origin: null" on a
    # form post, which the origin check refuses: the policy must let it through.
    response = client.get("/confirm?queue=emails&action=purge")
    assert response.headers["Referrer-Policy"] == "same-origin"
    token = csrf_of(text(response))
    form = {"action": "purge", "queue": "emails", "csrf_token": token}
    assert client.post("/action", data=form, headers={"Origin": "null"}).status_code == 403
    assert queue_gator.counts().dead == 2
    assert client.post("/action", data=form, headers={"Origin": "http://localhost"}).status_code == 303
    assert queue_gator.counts().dead == 0


def test_the_overview_says_how_many_queues_it_left_out(queue_gator: Gator, monkeypatch: Any) -> None:
    from alligator.dashboard import data

    monkeypatch.setattr(data, "MAX_QUEUES", 1)
    Gator(queue_gator.conn_string, queue_name="zzz", allow=["builtins"]).task(abs, -1)
    client = make_client(queue_gator)
    html = text(client.get("/"))
    assert 'data-queue="emails"' in html and 'data-queue="zzz"' not in html
    assert "1 more queue, past the first 1 by name, is not shown" in html


def test_dead_letter_payloads_are_cut_in_the_list(queue_gator: Gator) -> None:
    import sample_tasks

    queue_gator.options(task_id="big", retries=0).task(sample_tasks.always_fails, "x" * 10_000)
    queue_gator.get("big")
    client = make_client(queue_gator)
    html = text(client.get("/dead?queue=emails"))
    assert "the whole payload is on the task page" in html
    assert "x" * 10_000 in text(client.get("/task?queue=emails&id=big"))


def test_task_view_shows_a_stored_result_escaped(queue_gator: Gator, monkeypatch: Any) -> None:
    from alligator.backend import Finished
    from alligator.constants import SUCCESS

    queue_gator.get("plain")  # ran: SUCCESS
    backend = queue_gator.backend
    result = '{"html": "<script>window.x=1</script>"}'
    monkeypatch.setattr(
        backend, "finished", lambda queue, task_id: Finished(task_id, SUCCESS, result, None, 0.0)
    )
    html = text(make_client(queue_gator).get("/task?queue=emails&id=plain"))
    assert ">success<" in html
    assert (
        '<pre id="result">{&#34;html&#34;: &#34;&lt;script&gt;window.x=1&lt;/script&gt;&#34;}</pre>' in html
    )
    assert "1970-01-01 00:00:00Z" in html  # when it finished


def test_the_queue_view_lists_waiting_tasks_in_reservation_order_with_their_priority(
    client: Any, queue_gator: Gator
) -> None:
    import sample_tasks

    with queue_gator.options(task_id="urgent", priority=40) as opts:
        opts.task(sample_tasks.noop)
    with queue_gator.options(task_id="someday", priority=-40) as opts:
        opts.task(sample_tasks.noop)
    html = text(client.get("/queue?name=emails&state=waiting"))
    order = [html.index(f'data-task="{task_id}"') for task_id in ("urgent", "xss", "plain", "someday")]
    assert order == sorted(order), "listed as reserve takes them: priority, then due time"
    assert re.search(r'data-task="urgent">.*?<td class="n priority">40</td>', html, re.S)
    assert re.search(r'data-task="someday">.*?<td class="n priority">-40</td>', html, re.S)
    assert re.search(
        r'<dt>Priority</dt><dd id="priority">40</dd>', text(client.get("/task?queue=emails&id=urgent"))
    )
