"""The dashboard's web application (Flask, Jinja2 templates with autoescape).

Flask is imported inside :func:`create_app`, so this module (and the package)
can be imported, and its documentation built, without the ``dashboard`` extra.

Security, in one place:

- with a password, every page but ``/login`` and the static files needs a
  session (a login form sets an HttpOnly, SameSite=Strict cookie naming a
  session the server keeps: logging out ends it, and it ends by itself after
  :data:`~alligator.dashboard.auth.SESSION_SECONDS`) or, for scrapers and
  scripts, ``Authorization: Bearer TOKEN`` (or HTTP Basic with any user name
  and the token as password);
- wrong passwords and tokens are counted per client address and overall;
  past a limit the answer is 429 with ``Retry-After`` at once (no thread is
  held); after a login the browser goes only to a path of this dashboard;
- every change is a POST carrying the session's CSRF token; a POST without
  it, or from another origin, gets 403; a GET changes nothing;
- templates escape everything (autoescape), and pages send a strict
  Content-Security-Policy (scripts and styles only from ``/static``, no
  inline script, no framing), ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: same-origin``;
- when bound to loopback, requests whose ``Host`` is not a loopback name are
  refused, so a web page cannot reach the dashboard through DNS rebinding;
- the DSN is shown with its secrets hidden.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from alligator import presence
from alligator.capabilities import Unsupported, WorkerRegistry
from alligator.constants import TASK_STATES
from alligator.dashboard import charts, data
from alligator.dashboard.alerts import Doctor
from alligator.dashboard.auth import Sessions, Throttle, safe_target
from alligator.dashboard.data import ACTIONS, ONE_TASK_ACTIONS, Store, view_payload
from alligator.dashboard.sampler import Sampler
from alligator.text import printable

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("alligator.dashboard")

#: Tasks per page in the queue and dead-letter views.
PAGE = 50
#: Unique keys a queue's page lists at most (``alligator unique`` lists more).
UNIQUE_SHOWN = 20
#: Running tasks listed per worker on the overview; the page says how many more.
MAX_RUNNING_SHOWN = 3
#: Queues listed per worker on the overview; the page says how many more.
MAX_QUEUES_SHOWN = 5
#: Characters of a name (queue, host, function) shown in a list; the rest is cut.
NAME_CHARS = 60
#: Host names accepted when the dashboard is bound to loopback.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: The Content-Security-Policy every response carries.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def when(at: float | None) -> str:
    """Formats a time as UTC, to the second.

    Example:
        >>> when(0.0)
        '1970-01-01 00:00:00Z'
    """
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def relative(at: float | None, now: float) -> str:
    """Says how far a time is from ``now``: ``"in 5s"``, ``"3m ago"``.

    Example:
        >>> relative(100.0, 40.0), relative(40.0, 3640.0)
        ('in 1m', '1h ago')
    """
    if at is None:
        return "-"
    delta = at - now
    span = abs(delta)
    text = (
        f"{span:.0f}s"
        if span < 60
        else f"{span // 60:.0f}m"
        if span < 3600
        else f"{span // 3600:.0f}h"
        if span < 86400
        else f"{span // 86400:.0f}d"
    )
    return f"in {text}" if delta > 0 else f"{text} ago"


def plural(count: int, word: str, words: str | None = None) -> str:
    """Says how many: ``1 attempt``, ``2 attempts``.

    Example:
        >>> plural(1, "attempt"), plural(3, "attempt"), plural(2, "queue", "queues")
        ('1 attempt', '3 attempts', '2 queues')
    """
    return f"{count} {word if count == 1 else words or word + 's'}"


def cut(text: str, limit: int = NAME_CHARS) -> str:
    """Shortens a name for a list, marking the cut with ``…``.

    Example:
        >>> cut("a" * 100, 5)
        'aaaa…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8765`` -> ``[::1]``)."""
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _token_from(header: str | None) -> str | None:
    """The token of an ``Authorization`` header (Bearer, or Basic's password)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def create_app(
    store: Store | str,
    password: str | None = None,
    loopback_only: bool = True,
    sampler: Sampler | None = None,
    sample: bool = True,
    doctor: Doctor | None = None,
) -> Flask:
    """Builds the dashboard's WSGI application.

    Args:
        store: The store, or its DSN.
        password: Require this password (login form) or token (Authorization
            header); None lets every request in (loopback only!).
        loopback_only: Refuse requests whose Host is not a loopback name
            (DNS rebinding); :func:`~alligator.dashboard.serve` sets it when
            bound to loopback.
        sampler: The sampler whose history the charts draw; by default a new
            one, started unless ``sample`` is False.
        sample: Start the default sampler's thread.
        doctor: What runs ``alligator doctor``'s checks for the overview's
            alerts; by default one on the store's DSN, run at most every
            :data:`~alligator.dashboard.alerts.CHECK_SECONDS`.

    Returns:
        The Flask application (a WSGI callable); its ``extensions["alligator"]``
        holds the store and the sampler.
    """
    from flask import Flask, Response, abort, flash, g, redirect, render_template, request, session, url_for
    from markupsafe import Markup

    if isinstance(store, str):
        store = Store(store)
    if sampler is None:
        sampler = Sampler(store)
        if sample:
            sampler.start()
    the_store, the_sampler = store, sampler
    the_doctor = doctor if doctor is not None else Doctor(store.dsn)
    sessions, throttle = Sessions(), Throttle()

    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # sessions end when the dashboard stops
    app.config.update(
        SESSION_COOKIE_NAME="alligator_dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.jinja_env.autoescape = True
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["cut"] = cut
    app.jinja_env.globals["plural"] = plural
    app.jinja_env.globals["STATES"] = TASK_STATES
    app.jinja_env.globals["ACTIONS"] = ACTIONS
    app.extensions["alligator"] = {
        "store": the_store,
        "sampler": the_sampler,
        "doctor": the_doctor,
        "sessions": sessions,
        "throttle": throttle,
    }
    metrics_registry = _metrics_registry(the_store)

    def client() -> str:
        return request.remote_addr or "?"

    def right_password(sent: str) -> bool:
        """Compares in constant time, and counts a wrong one against the client."""
        assert password is not None
        if hmac.compare_digest(sent.encode(), password.encode()):
            throttle.succeeded(client())
            return True
        throttle.failed(client())
        return False

    def authenticated() -> bool:
        if password is None:
            return True
        if "authenticated" not in g:  # once a request: a wrong token counts once
            token = _token_from(request.headers.get("Authorization"))
            g.authenticated = sessions.valid(session.get("sid")) or (
                token is not None and throttle.retry_after(client()) == 0 and right_password(token)
            )
        return bool(g.authenticated)

    def logged_in() -> bool:
        return password is not None and sessions.valid(session.get("sid"))

    def too_many(wait: int) -> Response:
        message = f"too many wrong passwords from here: try again in {wait} s"
        return Response(message + "\n", 429, {"Retry-After": str(wait)})

    def csrf_token() -> str:
        token = session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            session["csrf"] = token
        return token

    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["logged_in"] = logged_in

    @app.before_request
    def guard() -> Any:
        if loopback_only and _host_name(request.host) not in LOOPBACK_HOSTS:
            abort(400, "this dashboard only answers requests for a loopback host name")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and origin != request.host_url.rstrip("/"):
                abort(403, "cross-origin POST refused")
            sent = request.form.get("csrf_token", "")
            kept = session.get("csrf")
            if not isinstance(kept, str) or not hmac.compare_digest(sent.encode(), kept.encode()):
                abort(403, "missing or wrong CSRF token: reload the page and try again")
        if request.endpoint in ("login", "static") or authenticated():
            return None
        if _token_from(request.headers.get("Authorization")) is not None:
            wait = throttle.retry_after(client())
            if wait:
                return too_many(wait)
        if request.method == "GET" and request.endpoint not in ("metrics", "overview_partial"):
            return redirect(url_for("login", next=request.full_path.rstrip("?")))
        # Only /metrics invites HTTP Basic: on the page's own refresh the
        # header would make the browser pop up a password dialog.
        challenge = (
            {"WWW-Authenticate": 'Basic realm="alligator dashboard"'} if request.endpoint == "metrics" else {}
        )
        return Response("authentication required\n", 401, challenge)

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # "same-origin", not "no-referrer": with no-referrer browsers send
        # "Origin: null" on form posts, which the origin check must refuse.
        response.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    def page_args() -> dict[str, Any]:
        if not authenticated():
            return {"store_name": "", "dsn": ""}  # which store it is, is for those let in
        return {"store_name": the_store.describe(), "dsn": the_store.shown_dsn}

    def overview_context() -> dict[str, Any]:
        now = the_store.now()
        seen = the_store.overview()
        counts, workers = seen.counts, seen.workers
        history = the_sampler.history()
        end = time.time()
        # The last hour, or less while the dashboard has not run that long:
        # a few minutes of samples drawn across an hour would be a sliver.
        start = max(end - 3600, history[0].at) if history else end - 3600
        since = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%H:%M:%SZ")
        depth = {}
        for queue in counts:
            points = [
                (s.at, float(c.waiting + c.delayed + c.running) if (c := s.counts.get(queue)) else None)
                for s in history
            ]
            label = f"{cut(queue)}: tasks waiting, delayed, running"
            depth[queue] = Markup(
                charts.line_chart(points, start, end, label, charts.ROW_WIDTH, charts.ROW_HEIGHT)
            )
        total = [
            (s.at, float(sum(c.waiting + c.delayed + c.running for c in s.counts.values()))) for s in history
        ]
        rate = 60.0 / the_sampler.interval
        per_minute = [(s.at, s.finished * rate if s.finished is not None else None) for s in history]
        paused = the_store.paused()
        return {
            "now": now,
            "counts": counts,
            "queued": seen.queued,
            "no_registry": the_store.cannot(WorkerRegistry),
            "uncounted": seen.uncounted,
            "left_out": seen.left_out,
            # A queue with waiting tasks that no live worker consumes stalls.
            "unconsumed": {q for q, c in counts.items() if c.waiting and q not in seen.consumed}
            if workers is not None
            else set(),
            "workers": None if workers is None else workers[: data.MAX_WORKERS],
            "workers_left_out": max(0, len(workers or []) - data.MAX_WORKERS),
            # Records whose heartbeat stopped: their worker was killed, hangs
            # or cannot write to the store (heartbeats are on the workers' clocks).
            "stale_workers": {w.worker_id for w in workers or [] if presence.is_stale(w, end)},
            "running_shown": MAX_RUNNING_SHOWN,
            "queues_shown": MAX_QUEUES_SHOWN,
            "checkup": the_doctor.checkup(),
            "wall": end,  # this machine's clock, which the checkup's time is on
            "stale_seconds": int(presence.STALE_SECONDS),
            "paused": paused,
            "limits": the_store.limits(),
            "paused_queues": {name for kind, name in paused or () if kind == "queue"},
            "schedules": the_store.schedules(),
            "depth": depth,
            "depth_total": Markup(
                charts.line_chart(total, start, end, "all queues: waiting, delayed, running")
            ),
            "throughput": Markup(charts.line_chart(per_minute, start, end, "tasks finished per minute")),
            "interval": the_sampler.interval,
            "since": since,
            "relative": relative,
        }

    @app.get("/")
    def overview() -> str:
        return render_template("overview.html", **page_args(), **overview_context())

    @app.get("/partials/overview")
    def overview_partial() -> str:
        return render_template("_overview.html", **overview_context())

    def offset_arg() -> int:
        try:
            return min(max(int(request.args.get("offset", "0")), 0), 10**9)
        except ValueError:
            return 0

    @app.get("/queue")
    def queue() -> Any:
        name = request.args.get("name", "")
        state = request.args.get("state", "waiting")
        if state not in TASK_STATES:
            abort(400, "unknown state")
        if state == "dead":
            return redirect(url_for("dead", queue=name))
        return task_page("queue.html", name, state)

    def task_page(template: str, name: str, state: str) -> str:
        """One page of a queue's tasks in one state (the queue view and the dead letters)."""
        offset = offset_arg()
        infos = the_store.tasks(name, state, offset, PAGE + 1)
        paused = the_store.paused()
        return render_template(
            template,
            **page_args(),
            queue=name,
            can_pause=paused is not None,
            queue_paused=("queue", name) in (paused or ()),
            unique_keys=the_store.unique_keys(name, UNIQUE_SHOWN) if template == "queue.html" else None,
            state=state,
            counts=the_store.counts(name),
            rows=[(info, view_payload(info.payload)) for info in infos[:PAGE]],
            offset=offset,
            more=len(infos) > PAGE,
            page=PAGE,
            now=the_store.now(),
            relative=relative,
        )

    @app.get("/dead")
    def dead() -> str:
        return task_page("dead.html", request.args.get("queue", ""), "dead")

    @app.get("/task")
    def task() -> str:
        name = request.args.get("queue", "")
        task_id = request.args.get("id", "")
        detail = the_store.task(name, task_id)
        return render_template(
            "task.html", **page_args(), detail=detail, now=the_store.now(), relative=relative
        )

    @app.get("/confirm")
    def confirm() -> str:
        action = request.args.get("action", "")
        if action not in ACTIONS:
            abort(400, "unknown action")
        name = request.args.get("queue", "")
        task_id = request.args.get("id", "")
        return render_template(
            "confirm.html",
            **page_args(),
            action=action,
            title=ACTIONS[action],
            queue=name,
            task_id=task_id,
            state=task_state(),
            counts=the_store.admin.counts_or_none(name),
        )

    def task_state() -> str:
        """The state a task to cancel was listed in (where to go back to)."""
        state = request.values.get("state", "waiting")
        return state if state in ("waiting", "delayed") else "waiting"

    @app.post("/action")
    def action() -> Any:
        action = request.form.get("action", "")
        if action not in ACTIONS:
            abort(400, "unknown action")
        name = request.form.get("queue", "")
        task_id = request.form.get("id", "")
        if action in ONE_TASK_ACTIONS and not task_id:
            abort(400, "which task? (the form carries no id)")
        done = the_store.act(action, name, task_id)
        log.info(
            "dashboard: %s on queue %s%s -> %s",
            action,
            printable(name),
            f" task {printable(task_id)}" if task_id else "",
            done,
        )
        if action == "requeue":
            flash(f"Requeued {task_id}." if done else f"{task_id} is not a dead letter any more.")
        elif action == "delete":
            flash(f"Deleted {task_id}." if done else f"{task_id} is not a dead letter any more.")
        elif action == "cancel":
            flash(
                f"Cancelled {task_id}: it will never run."
                if done
                else f"{task_id} was not waiting or delayed any more (a worker took it, or it is gone)."
            )
            return redirect(url_for("queue", name=name, state=task_state()), 303)
        elif action == "requeue_all":
            flash(f"Requeued {plural(done, 'dead letter')}.")
        else:
            flash(f"Deleted {plural(done, 'dead letter')}.")
        return redirect(url_for("dead", queue=name), 303)

    @app.post("/pause")
    def pause() -> Any:
        kind = request.form.get("kind", "")
        name = request.form.get("name", "")
        wanted = request.form.get("paused", "")
        if wanted not in ("1", "0"):
            abort(400, "pause or resume?")
        pausing = wanted == "1"
        changed = the_store.set_paused(kind, name, pausing)
        log.info(
            "dashboard: %s %s %s -> %s", "pause" if pausing else "resume", kind, printable(name), changed
        )
        verb = "Paused" if pausing else "Resumed"
        if changed:
            flash(f"{verb} {kind} {name}.")
        else:
            flash(f"{kind.capitalize()} {name} was {'paused already' if pausing else 'not paused'}.")
        if kind == "queue":
            return redirect(url_for("queue", name=name), 303)
        return redirect(url_for("overview"), 303)

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        target = safe_target(request.values.get("next", "/"))
        if request.method == "GET" or password is None:
            return render_template("login.html", target=target, error="", **page_args())
        wait = throttle.retry_after(client())
        if wait:
            # Answered at once, the password unread: guessing waits, no thread does.
            error = f"Too many wrong passwords from here: try again in {wait} s."
            page = render_template("login.html", target=target, error=error, **page_args())
            return page, 429, {"Retry-After": str(wait)}
        if right_password(request.form.get("password", "")):
            sessions.end(session.get("sid"))
            session.clear()
            session["sid"] = sessions.start()
            session["csrf"] = secrets.token_urlsafe(32)
            return redirect(target, 303)
        return render_template("login.html", target=target, error="Wrong password.", **page_args())

    @app.post("/logout")
    def logout() -> Any:
        sessions.end(session.get("sid"))  # a copy of the cookie lets no one in any more
        session.clear()
        return redirect(url_for("login"), 303)

    @app.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics_registry), 200, {"Content-Type": CONTENT_TYPE_LATEST})

    @app.errorhandler(Exception)
    def failed(err: Exception) -> Any:
        from werkzeug.exceptions import HTTPException

        if isinstance(err, Unsupported):
            # Not a failure: the store lacks a capability. The page says what it
            # cannot do, in the words the command and doctor use.
            code = 200 if request.method == "GET" else 400
            page = render_template("unsupported.html", message=str(err), **page_args())
            return page, code
        if isinstance(err, HTTPException):
            code = err.code or 500
            message = err.description or err.name
        elif isinstance(err, ValueError):
            code, message = 400, str(err)
        else:
            log.exception("dashboard: a request failed")
            code, message = 500, f"the store failed: {type(err).__name__}: {err}"
        return render_template("error.html", code=code, message=message, **page_args()), code

    return app


def _metrics_registry(store: Store) -> Any:
    """A registry of its own with the store's view: queue depth per state, live workers."""
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.registry import Collector
    except ImportError:  # pragma: no cover - the dashboard extra brings it
        return None

    class StoreCollector(Collector):
        def collect(self) -> Iterator[Any]:
            tasks = GaugeMetricFamily(
                "alligator_queue_tasks", "Tasks in each queue, per state.", labels=["queue", "state"]
            )
            seen = store.overview()
            counts = seen.counts
            for queue, queue_counts in counts.items():
                for state in TASK_STATES:
                    tasks.add_metric([queue, state], getattr(queue_counts, state))
            yield tasks
            workers = seen.workers
            if workers is not None:
                yield GaugeMetricFamily("alligator_workers", "Live workers.", value=len(workers))
            yield from _pause_gauges(store, counts.keys())

    def _pause_gauges(store: Store, queues: Iterable[str]) -> Iterator[Any]:
        """1 for each paused queue (0 for every other listed one) and each paused function."""
        paused = store.paused()
        if paused is None:
            return
        queue_gauge = GaugeMetricFamily(
            "alligator_queue_paused", "1 while a queue is paused (alligator pause), else 0.", labels=["queue"]
        )
        function_gauge = GaugeMetricFamily(
            "alligator_function_paused", "1 for each paused function (module:name).", labels=["function"]
        )
        paused_queues = {name for kind, name in paused if kind == "queue"}
        for queue in sorted(set(queues) | paused_queues):
            queue_gauge.add_metric([queue], 1.0 if queue in paused_queues else 0.0)
        for kind, name in paused:
            if kind == "function":
                function_gauge.add_metric([name], 1.0)
        yield queue_gauge
        yield function_gauge

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector())
    return registry
