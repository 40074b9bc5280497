"""The subcommands of ``alligator``, each ``(admin, args) -> exit status``.

Each works through :class:`alligator.admin.Admin`: a step the store lacks
the capability for raises :class:`~alligator.capabilities.Unsupported`,
which :func:`alligator.command.main` prints as it is and exits 1.

``show`` and ``result``, about one task found by id, are in :mod:`alligator.command._one_task`.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import asdict
from typing import Any, TextIO

from alligator import presence
from alligator.admin import Admin
from alligator.backend import TaskInfo
from alligator.capabilities import Administration, Inspection, WorkerRegistry
from alligator.command._lookup import looked_where, task_queue
from alligator.command._pausing import paused_json, paused_line, read_paused
from alligator.command._render import (
    call_text,
    decode_payload,
    dump_json,
    json_or_text,
    since,
    table,
)
from alligator.constants import STATE_ALIASES
from alligator.presence import WorkerInfo
from alligator.text import printable


def _error(message: str) -> None:
    sys.stderr.write(f"alligator: {message}\n")


def _queue(args: argparse.Namespace) -> str:
    return str(args.queue)


def _q(name: str) -> str:
    """A queue name or id as it appears in a message: escaped and quoted."""
    return repr(printable(name))


# -- live workers ------------------------------------------------------------


def read_workers(admin: Admin) -> tuple[list[WorkerInfo] | None, str | None]:
    """Reads the live workers' records; hostile or corrupt ones are left out.

    Returns:
        ``(workers, None)``, or ``(None, why)`` when the store keeps no
        registry of workers.
    """
    why = admin.cannot(WorkerRegistry)
    return (None, why) if why is not None else (admin.workers(), None)


def worker_json(info: WorkerInfo, now: float | None = None) -> dict[str, Any]:
    """A worker as ``--json`` shows it, with ``stale``: no heartbeat for
    :data:`~alligator.presence.STALE_SECONDS` at ``now`` (default: this machine's clock)."""
    data = asdict(info)
    data["queues"] = list(info.queues)
    data["current"] = [asdict(task) for task in info.current]
    data["stale"] = presence.is_stale(info, time.time() if now is None else now)
    return data


def workers_line(workers: list[WorkerInfo], now: float) -> str:
    """``N live workers``, and how many more records are stale (their worker
    was killed, hangs or cannot write its heartbeat): those are not live."""
    stale = sum(1 for w in workers if presence.is_stale(w, now))
    live = len(workers) - stale
    line = f"{live} live worker{'s' if live != 1 else ''}"
    if stale:
        line += (
            f", {stale} stale (no heartbeat for over {presence.STALE_SECONDS:.0f} s:"
            " killed, hung, or unable to write to the store)"
        )
    return line


def _worker_rows(workers: list[WorkerInfo], now: float) -> list[list[object]]:
    return [
        [
            w.worker_id,
            w.host,
            w.pid,
            ",".join(w.queues),
            w.concurrency,
            w.tasks_handled,
            len(w.current),
            since(w.started_at, now),
            since(w.heartbeat_at, now) + (" (stale)" if presence.is_stale(w, now) else ""),
        ]
        for w in workers
    ]


WORKER_HEADERS = ["WORKER", "HOST", "PID", "QUEUES", "THREADS", "HANDLED", "BUSY", "STARTED", "HEARTBEAT"]


# -- info ----------------------------------------------------------------------


def _info_data(admin: Admin) -> tuple[dict[str, Any], list[WorkerInfo]]:
    workers, why = read_workers(admin)
    uncounted = admin.cannot(Inspection)
    queues = []
    for name in admin.queues(workers or []):
        counts = admin.counts_or_none(name)
        if counts is None:
            # The required part counts the waiting and delayed tasks together, nothing else.
            unknown: dict[str, Any] = dict.fromkeys(("waiting", "delayed", "running", "dead", "total"))
            queues.append({"name": name, **unknown, "queued": admin.queued(name)})
        else:
            queues.append({"name": name, **asdict(counts), "total": counts.total})
    pauses, _ = read_paused(admin)
    paused_queues = {name for kind, name in pauses or () if kind == "queue"}
    for queue in queues:
        queue["paused"] = queue["name"] in paused_queues
    data = {
        "store": admin.backend.describe(),
        "queues": queues,
        "paused": paused_json(pauses),
        "workers": None if workers is None else [worker_json(w) for w in workers],
        "workers_unavailable": why,
    }
    if uncounted is not None:
        # Only on a store that cannot count per state: the shape elsewhere stays as it was.
        data["counts_unavailable"] = uncounted
    return data, workers or []


def _info_text(data: dict[str, Any], workers: list[WorkerInfo], out: TextIO) -> None:
    out.write(f"store {printable(data['store'])}\n\n")
    queues = data["queues"]
    if "counts_unavailable" in data:
        if queues:
            table(["QUEUE", "WAITING+DELAYED"], [[q["name"], q["queued"]] for q in queues], out)
        queued = sum(q["queued"] for q in queues)
        out.write(
            f"{len(queues)} queue{'s' if len(queues) != 1 else ''}, {queued} waiting or delayed; "
            f"per state unknown: {printable(data['counts_unavailable'])}\n"
        )
    else:
        if queues:
            table(
                ["QUEUE", "WAITING", "DELAYED", "RUNNING", "DEAD"],
                [[q["name"], q["waiting"], q["delayed"], q["running"], q["dead"]] for q in queues],
                out,
            )
        total = sum(q["total"] for q in queues)
        out.write(
            f"{len(queues)} queue{'s' if len(queues) != 1 else ''}, {total} task{'s' if total != 1 else ''}\n"
        )
    out.write(paused_line([(p["kind"], p["name"]) for p in data["paused"] or ()]) + "\n")
    if data["workers"] is None:
        out.write(f"live workers unknown: {printable(data['workers_unavailable'])}\n")
        return
    now = time.time()
    if workers:
        table(WORKER_HEADERS, _worker_rows(workers, now), out)
    out.write(workers_line(workers, now) + "\n")


def info(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator info``: queues with their counts per state, and the live workers.

    On a store that cannot count per state, each queue shows its waiting
    and delayed tasks together (``queued``) and the line under the table
    says what the store cannot do.
    """
    if args.watch is None:
        data, found = _info_data(admin)
        if args.json:
            dump_json(data)
        else:
            _info_text(data, found, sys.stdout)
        return 0
    terminal = sys.stdout.isatty()
    try:
        while True:
            data, found = _info_data(admin)
            if args.json:
                # One line per refresh (JSON Lines), so a script can read them as they come.
                sys.stdout.write(json.dumps(data, sort_keys=True, ensure_ascii=True) + "\n")
            else:
                buffer = io.StringIO()
                _info_text(data, found, buffer)
                stamp = time.strftime("%H:%M:%S")
                # On a terminal, redraw in place; into a pipe, one block after another.
                prefix = "\x1b[H\x1b[J" if terminal else ""
                sys.stdout.write(
                    f"{prefix}every {args.watch:g}s, at {stamp} (Ctrl-C to stop)\n{buffer.getvalue()}\n"
                )
            sys.stdout.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


# -- workers -------------------------------------------------------------------


def workers(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator workers``: the live workers and what each is running (exit 1: the store keeps none)."""
    found, why = read_workers(admin)
    if args.json:
        dump_json(
            {
                "workers": None if found is None else [worker_json(w) for w in found],
                "workers_unavailable": why,
            }
        )
        return 0 if found is not None else 1
    if found is None:
        _error(f"live workers unknown: {printable(why)}")
        return 1
    now = time.time()
    if found:
        table(WORKER_HEADERS, _worker_rows(found, now))
    sys.stdout.write(workers_line(found, now) + "\n")
    running = [(w, t) for w in found for t in w.current]
    if running:
        sys.stdout.write("\n")
        table(
            ["WORKER", "TASK", "FUNCTION", "QUEUE", "STARTED"],
            [[w.worker_id, t.task_id, t.function, t.queue, since(t.since, now)] for w, t in running],
        )
    return 0


# -- tasks ---------------------------------------------------------------------


def task_json(info: TaskInfo) -> dict[str, Any]:
    """A listed task as ``--json`` shows it: the stored fields and the decoded call."""
    decoded = decode_payload(info.payload)
    return {
        "task_id": info.task_id,
        "state": info.state,
        "attempts": info.attempts,
        "failures": info.failures,
        "priority": info.priority,
        "due": info.due,
        "reason": info.reason,
        "failed_at": info.failed_at,
        "function": decoded["function"],
        "args": decoded["args"],
        "kwargs": decoded["kwargs"],
        "options": decoded["options"],
        "signed": decoded["signed"],
        "payload_error": decoded["error"],
    }


def _last_line(reason: str | None) -> str | None:
    """The line of a reason that says what happened: a traceback's last non-empty line."""
    if reason is None:
        return None
    kept = [line for line in reason.split("\n") if line.strip()]
    return kept[-1] if kept else reason


def tasks(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator tasks``: one page of a queue's tasks in one state (``failed`` is ``dead``)."""
    if args.state == "succeeded":
        return succeeded(admin, args)
    queue = _queue(args)
    state = STATE_ALIASES.get(args.state, args.state)
    page = admin.tasks(queue, state, args.offset, args.limit)
    if args.json:
        dump_json(
            {
                "queue": queue,
                "state": args.state,
                "offset": args.offset,
                "limit": args.limit,
                "tasks": [task_json(info) for info in page],
            }
        )
        return 0
    now = admin.backend.now()
    if state == "dead":
        headers = ["TASK", "CALL", "ATTEMPTS", "FAILED", "REASON"]
        rows: list[list[object]] = [
            [
                i.task_id,
                call_text(decode_payload(i.payload)),
                i.attempts,
                since(i.failed_at, now),
                _last_line(i.reason),
            ]
            for i in page
        ]
    else:
        when = {"waiting": "DUE", "delayed": "DUE", "running": "LEASE ENDS"}[state]
        # Waiting tasks are listed as they will be reserved: priority, then due time.
        headers = ["TASK", "CALL", "ATTEMPTS", "PRIORITY", when]
        rows = [
            [i.task_id, call_text(decode_payload(i.payload)), i.attempts, i.priority, since(i.due, now)]
            for i in page
        ]
    if page:
        table(headers, rows)
    first = args.offset + 1
    shown = f"{first}-{args.offset + len(page)}" if page else "none"
    sys.stdout.write(f"{args.state} tasks of queue {_q(queue)}: {shown}")
    sys.stdout.write(f" of {getattr(admin.counts(queue), state)}\n")
    return 0


def succeeded(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator tasks --state succeeded``: one page of the succeeded tasks, newest first, with results.

    Only where the store keeps results (:meth:`Admin.succeeded
    <alligator.admin.Admin.succeeded>`); elsewhere the refusal says it keeps
    none. What the store remembers of a succeeded task is its id, when it
    finished and its result: not its call.
    """
    queue = _queue(args)
    page = admin.succeeded(queue, args.offset, args.limit)
    if args.json:
        dump_json(
            {
                "queue": queue,
                "state": "succeeded",
                "offset": args.offset,
                "limit": args.limit,
                "tasks": [
                    {
                        "task_id": found.task_id,
                        "state": "succeeded",
                        "finished_at": found.finished_at,
                        "result": json_or_text(found.result),
                        "stored": found.result is not None,
                        "reason": found.reason,
                    }
                    for found in page
                ],
            }
        )
        return 0
    now = admin.backend.now()
    if page:
        table(
            ["TASK", "FINISHED", "RESULT"],
            [
                [
                    found.task_id,
                    since(found.finished_at, now),
                    found.result if found.result is not None else found.reason or "(none kept)",
                ]
                for found in page
            ],
        )
    shown = f"{args.offset + 1}-{args.offset + len(page)}" if page else "none"
    sys.stdout.write(f"succeeded tasks of queue {_q(queue)}, newest first: {shown}\n")
    return 0


# -- steering ------------------------------------------------------------------


def confirm(args: argparse.Namespace, question: str) -> int | None:
    """Asks before a destructive step; None to go on, else the exit status.

    ``--yes`` skips the question. With no terminal to ask on (a script, a
    pipe) and no ``--yes`` it refuses (exit 2): a script that forgot
    ``--yes`` must not delete tasks because nobody could be asked.
    """
    if args.yes:
        return None
    if not sys.stdin.isatty():
        _error(f"error: {args.command} changes the store and there is no terminal to confirm on; pass --yes")
        return 2
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return None
    _error("not confirmed; nothing changed")
    return 1


def _store(admin: Admin) -> str:
    return printable(admin.backend.describe())


def _each(admin: Admin, args: argparse.Namespace, verb: str, step: Any) -> int:
    """Runs ``step(queue, task_id)`` on each id; reports which were done and which not found."""
    queue = _queue(args)
    ids = [printable(i) for i in args.task_ids]
    refused = confirm(
        args, f"{verb} {len(ids)} dead letter(s) of queue {_q(queue)} in {_store(admin)}: {', '.join(ids)}?"
    )
    if refused is not None:
        return refused
    done: list[str] = []
    missing: list[str] = []
    for task_id in args.task_ids:
        (done if step(queue, task_id) else missing).append(task_id)
    if args.json:
        dump_json({"queue": queue, "count": len(done), "done": done, "missing": missing})
    else:
        for task_id in done:
            sys.stdout.write(f"{printable(task_id)}  {verb}d\n")
        for task_id in missing:
            sys.stdout.write(f"{printable(task_id)}  not a dead letter of queue {_q(queue)}: nothing done\n")
    return 0 if not missing else 1


def _dead_count(admin: Admin, queue: str) -> str:
    """How many dead letters a queue holds, for a question: "all 3", or "all" where the store cannot count."""
    counts = admin.counts_or_none(queue)
    return "all" if counts is None else f"all {counts.dead}"


def requeue(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator requeue``: dead letters back on the queue, due now, their counts reset."""
    admin.require(Administration)
    if not args.all:
        return _each(admin, args, "requeue", admin.requeue)
    queue = _queue(args)
    dead = _dead_count(admin, queue)
    refused = confirm(args, f"requeue {dead} dead letters of queue {_q(queue)} in {_store(admin)}?")
    if refused is not None:
        return refused
    count = admin.requeue_all(queue)
    if args.json:
        dump_json({"queue": queue, "count": count, "done": None, "missing": []})
    else:
        sys.stdout.write(f"requeued {count} dead letter{'s' if count != 1 else ''} of queue {_q(queue)}\n")
    return 0


def delete(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator delete``: dead letters deleted for good."""
    admin.require(Administration)
    return _each(admin, args, "delete", admin.delete_dead)


def purge(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator purge``: every task of a queue (``drop_all``), or with ``--dead`` its dead letters.

    Every store can drop a queue; where it cannot count per state the
    question, and ``count``, are the waiting and delayed tasks only.
    """
    queue = _queue(args)
    if args.dead:
        admin.require(Administration)
    counts = admin.counts_or_none(queue)
    if args.dead:
        question = f"delete {_dead_count(admin, queue)} dead letters of queue {_q(queue)} in {_store(admin)}?"
    elif counts is None:
        question = (
            f"delete EVERYTHING queue {_q(queue)} holds in {_store(admin)}: {admin.queued(queue)} waiting "
            "or delayed, and whatever is running or dead (this store cannot count those)?"
        )
    else:
        question = (
            f"delete EVERYTHING queue {_q(queue)} holds in {_store(admin)}: {counts.waiting} waiting, "
            f"{counts.delayed} delayed, {counts.running} running, {counts.dead} dead?"
        )
    total = counts.total if counts is not None else admin.queued(queue)
    refused = confirm(args, question)
    if refused is not None:
        return refused
    if args.dead:
        count = admin.purge_dead(queue)
    else:
        admin.drop(queue)
        count = total
    if args.json:
        dump_json({"queue": queue, "dead_only": bool(args.dead), "count": count})
    elif args.dead:
        sys.stdout.write(f"deleted {count} dead letter{'s' if count != 1 else ''} of queue {_q(queue)}\n")
    else:
        sys.stdout.write(f"deleted everything queue {_q(queue)} held ({count} tasks counted before)\n")
    return 0


def cancel(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator cancel``: a waiting or delayed task removed, in whichever queue holds it; it never runs."""
    queue, task_id = task_queue(admin, args), args.task_id
    refused = confirm(args, f"cancel task {_q(task_id)} of queue {_q(queue)} in {_store(admin)}?")
    if refused is not None:
        return refused
    cancelled = admin.cancel(queue, task_id)
    if args.json:
        dump_json({"queue": queue, "task_id": task_id, "cancelled": cancelled})
    elif cancelled:
        sys.stdout.write(f"{printable(task_id)}  cancelled\n")
    else:
        _error(
            f"task {_q(task_id)} is not waiting or delayed in {looked_where(args, queue)} "
            "(running, finished, or unknown): nothing done"
        )
    return 0 if cancelled else 1


# -- doctor and dashboard ------------------------------------------------------


def doctor(dsn: str, args: argparse.Namespace) -> int:
    """``alligator doctor``: see :mod:`alligator.doctor`."""
    from alligator.doctor import examine, report

    findings = examine(dsn, args.allow)
    if args.json:
        dump_json(
            {
                "store": printable(_redacted(dsn)),
                "ok": not any(f.failing for f in findings),
                "findings": [asdict(f) for f in findings],
            }
        )
    else:
        report(dsn, findings, sys.stdout)
    return 1 if any(f.failing for f in findings) else 0


def _redacted(dsn: str) -> str:
    from alligator.text import redact_dsn

    return redact_dsn(dsn)


def dashboard(dsn: str, args: argparse.Namespace) -> int:
    """``alligator dashboard``: hands over to :func:`alligator.dashboard.serve`, imported only now.

    ``--password`` is passed on; without it ``serve`` reads the password
    from ``ALLIGATOR_DASHBOARD_TOKEN`` (better: ``ps`` shows a command line
    to every user of the machine, not another process's environment).
    """
    import importlib

    from alligator.registry import extra_hint

    try:
        # Imported only here: the dashboard's dependencies are an extra.
        web = importlib.import_module("alligator.dashboard")
        serve = web.serve
    except (ImportError, AttributeError) as err:
        _error(f"error: the dashboard is not installed ({printable(err)}): {extra_hint('dashboard')}")
        return 2
    try:
        return int(serve(dsn, args.bind, args.password or None))
    except ImportError as err:
        missing = printable(err)
        _error(f"error: the dashboard's dependencies are missing ({missing}): {extra_hint('dashboard')}")
        return 2
    except KeyboardInterrupt:
        return 0
