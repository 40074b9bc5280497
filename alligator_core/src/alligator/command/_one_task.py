"""The subcommands about one task, found by id: ``show`` and ``result``.

Each is ``(admin, args) -> exit status``, like those of
:mod:`alligator.command._commands`; without ``--queue`` the queue holding the
task is looked up (:mod:`alligator.command._lookup`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from alligator.admin import Admin
from alligator.command._commands import _error, _q
from alligator.command._lookup import looked_where, task_queue
from alligator.command._render import decode_payload, dump_json, json_or_text, lines, since
from alligator.constants import FAILED, RUNNING, SUCCESS, status_name
from alligator.security import SECRET_ENV, TaskPolicy
from alligator.text import printable

# -- one task ------------------------------------------------------------------


def show(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator show``: everything the store knows of one task, in whichever queue holds it.

    A store that cannot list its tasks still gives the status and the
    payload; the attempts and times are left out.
    """
    queue, task_id = task_queue(admin, args), args.task_id
    status, info, payload = admin.task(queue, task_id)
    data: dict[str, Any] = {
        "queue": queue,
        "task_id": task_id,
        "status": status_name(status),
        "function": None,
        "args": None,
        "kwargs": None,
        "options": None,
        "signed": None,
        "payload_error": None,
        "attempts": None,
        "failures": None,
        "due": None,
        "reason": None,
        "failed_at": None,
        "finished_at": None,
        "result": None,
    }
    stored_text: str | None = None
    if payload is not None:
        decoded = decode_payload(payload)
        for key in ("function", "args", "kwargs", "options", "signed"):
            data[key] = decoded[key]
        data["payload_error"] = decoded["error"]
    if info is not None:
        data.update(
            attempts=info.attempts,
            # A dead letter does not keep its count of failed runs (see TaskInfo).
            failures=None if info.state == "dead" else info.failures,
            due=info.due,
            reason=info.reason,
            failed_at=info.failed_at,
        )
    if status in (SUCCESS, FAILED):
        finished = admin.finished(queue, task_id)
        if finished is not None:
            data["finished_at"] = finished.finished_at
            if finished.status == SUCCESS:
                stored_text = finished.result
                data["result"] = json_or_text(finished.result)
                data["reason"] = finished.reason
            elif data["reason"] is None:
                data["reason"] = finished.reason
    if args.json:
        dump_json(data)
        return 0 if status is not None else 1
    if status is None:
        _error(
            f"no task {_q(task_id)} in {looked_where(args, queue)} "
            "(never pushed, cancelled, or finished and forgotten)"
        )
        return 1
    now = admin.backend.now()
    rows: list[tuple[str, object]] = [("task", task_id), ("queue", queue), ("status", data["status"])]
    if data["payload_error"] is not None:
        rows.append(("payload", f"unreadable: {data['payload_error']}"))
    elif data["function"] is not None:
        rows += [
            ("function", data["function"]),
            ("args", json.dumps(data["args"], ensure_ascii=False)),
            ("kwargs", json.dumps(data["kwargs"], ensure_ascii=False)),
            ("options", json.dumps(data["options"], ensure_ascii=False, sort_keys=True)),
            ("signed", "yes" if data["signed"] else "no"),
        ]
    if data["attempts"] is not None and data["failures"] is not None:
        rows.append(("attempts", f"{data['attempts']} ({data['failures']} failed)"))
    elif data["attempts"] is not None:
        rows.append(("attempts", data["attempts"]))
    if data["due"] is not None:
        rows.append(("lease ends" if status == RUNNING else "due", since(data["due"], now)))
    if data["failed_at"] is not None:
        rows.append(("failed", since(data["failed_at"], now)))
    if data["finished_at"] is not None and status == SUCCESS:
        rows.append(("finished", since(data["finished_at"], now)))
    if status == SUCCESS:
        rows.append(("result", stored_text if stored_text is not None else "(none kept)"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        sys.stdout.write(f"{key.ljust(width)}  {printable(value, 2000)}\n")
    if data["reason"] is not None:
        sys.stdout.write("reason:\n")
        for line in lines(data["reason"]):
            sys.stdout.write(f"  {line}\n")
    return 0


# -- result --------------------------------------------------------------------


def result(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator result``: a finished task's stored return value, as JSON text.

    It mirrors :meth:`Gator.result <alligator.gator.Gator.result>` on the
    facade (:meth:`Admin.finished <alligator.admin.Admin.finished>`), printing the stored
    JSON as it is instead of decoding it. With ``ALLIGATOR_SECRET`` set, it
    checks a result's or reason's signature as ``Gator.result`` does, and
    says so instead of printing one that fails.
    """
    queue, task_id = task_queue(admin, args), args.task_id
    try:
        policy = TaskPolicy.build(environ={k: v for k, v in os.environ.items() if k == SECRET_ENV})
    except ValueError as err:
        _error(f"{SECRET_ENV} is invalid: {printable(err, 500)}")
        return 2
    # Results are checked as Gator.result checks them (nothing is checked without a secret).
    checking = Admin(admin.backend, policy)
    finished = checking.finished(queue, task_id, args.wait)
    status = None if finished is not None else admin.backend.status(queue, task_id)
    data: dict[str, Any] = {"queue": queue, "task_id": task_id, "result": None, "reason": None}
    if finished is None:
        data["status"] = "unknown" if status is None else "pending"
        if status is not None:
            data["state"] = status_name(status)
    elif finished.status == SUCCESS:
        data["status"] = "success"
        data["result"] = json_or_text(finished.result)
        data["reason"] = finished.reason
        data["stored"] = finished.result is not None
    else:
        data["status"] = "failed"
        data["reason"] = finished.reason
    data.setdefault("state", data["status"])
    data.setdefault("stored", False)
    ok = data["status"] == "success" and finished is not None and finished.reason is None
    if args.json:
        dump_json(data)
        return 0 if ok else 1
    if data["status"] == "unknown":
        where = looked_where(args, queue)
        _error(f"no task {_q(task_id)} in {where} (never pushed, cancelled, or forgotten)")
    elif data["status"] == "pending":
        waited = f" after waiting {args.wait:g}s" if args.wait > 0 else " (--wait SECONDS waits for it)"
        _error(f"task {_q(task_id)} has not finished: it is {data['state']}{waited}")
    elif data["status"] == "failed":
        _error(f"task {_q(task_id)} failed:")
        for line in lines(data["reason"] or ""):
            sys.stderr.write(f"  {line}\n")
    elif finished is not None and finished.reason is not None:
        _error(f"task {_q(task_id)} succeeded, but its result cannot be read: {printable(finished.reason)}")
    elif finished is not None and finished.result is None:
        sys.stdout.write("null\n")
        _error(f"task {_q(task_id)} succeeded; no result was kept (results off, or past their time)")
    elif finished is not None and finished.result is not None:
        sys.stdout.write(printable(finished.result, len(finished.result) + 16) + "\n")
    return 0 if ok else 1
