"""``alligator pause`` and ``alligator resume``: stop a queue or a function without stopping workers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alligator.admin import Admin
from alligator.capabilities import Pausing
from alligator.command._render import dump_json, table
from alligator.pausing import target
from alligator.text import printable

#: The subcommands this module handles.
COMMANDS = ("pause", "resume")


def read_paused(admin: Admin) -> tuple[list[tuple[str, str]] | None, str | None]:
    """Reads what is paused; hostile records are left out by the backend.

    Returns:
        ``(pauses, None)``, or ``(None, why)`` when the store cannot pause.
    """
    why = admin.cannot(Pausing)
    return (None, why) if why is not None else (admin.paused(), None)


def paused_json(pauses: list[tuple[str, str]] | None) -> list[dict[str, str]] | None:
    """Pauses as ``--json`` shows them: ``[{"kind": ..., "name": ...}]``."""
    return None if pauses is None else [{"kind": kind, "name": name} for kind, name in pauses]


def paused_line(pauses: list[tuple[str, str]]) -> str:
    """One line naming what is paused, for ``info``; "" when nothing is."""
    if not pauses:
        return ""
    return "paused: " + "; ".join(f"{kind} {printable(name)!r}" for kind, name in pauses) + "\n"


def _target(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.queue is None and args.function is None:
        return None
    return target(args.queue, args.function)


def _usage(message: str) -> int:
    sys.stderr.write(f"alligator: error: {printable(message, 500)}\n")
    return 2


def pause(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator pause``: pause a queue or a function; with neither, list what is paused."""
    try:
        chosen = _target(args)
    except ValueError as err:
        return _usage(str(err))
    if chosen is None:
        pauses = admin.paused()
        if args.json:
            dump_json({"paused": paused_json(pauses)})
        elif pauses:
            table(["KIND", "NAME"], [list(pair) for pair in pauses])
        else:
            sys.stdout.write("nothing is paused\n")
        return 0
    return _change(admin, args, chosen, True)


def resume(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator resume``: resume a paused queue or function."""
    try:
        chosen = _target(args)
    except ValueError as err:
        return _usage(str(err))
    if chosen is None:
        return _usage("resume takes --queue Q or --function MODULE:NAME (alligator pause DSN lists them)")
    return _change(admin, args, chosen, False)


def _change(admin: Admin, args: argparse.Namespace, chosen: tuple[str, str], paused: bool) -> int:
    kind, name = chosen
    try:
        changed = admin.set_paused(kind, name, paused)
    except ValueError as err:
        return _usage(str(err))
    if args.json:
        data: dict[str, Any] = {"kind": kind, "name": name, "paused": paused, "changed": changed}
        dump_json(data)
        return 0
    shown = f"{kind} {printable(name)!r}"
    if paused:
        sys.stdout.write(
            f"{shown} paused: workers leave its tasks waiting\n"
            if changed
            else f"{shown} was paused already\n"
        )
    else:
        sys.stdout.write(f"{shown} resumed\n" if changed else f"{shown} was not paused: nothing done\n")
    return 0
