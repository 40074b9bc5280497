"""``alligator unique``: the unique keys a queue's tasks hold, and which task holds each."""

from __future__ import annotations

import argparse
import sys

from alligator import capabilities
from alligator.admin import Admin
from alligator.command._render import dump_json, table
from alligator.text import printable
from alligator.unique_store import HeldKey, UniqueKeys

#: The subcommands this module handles.
COMMANDS = ("unique",)


def held_json(keys: list[HeldKey]) -> list[dict[str, object]]:
    """Held keys as ``--json`` and the dashboard show them."""
    return [{"key": k.key, "holder": k.holder, "mode": k.mode, "until": k.until} for k in keys]


def unique(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator unique``: list the keys held in a queue, sorted, with their holders."""
    admin.require(UniqueKeys)
    keys = capabilities.unique_keys(admin.backend).unique_keys(args.queue, args.limit)
    if args.json:
        dump_json({"queue": args.queue, "keys": held_json(keys)})
        return 0
    if not keys:
        sys.stdout.write(f"no unique key is held in {printable(args.queue)!r}\n")
        return 0
    now = admin.backend.now()
    rows = [[k.key, k.holder, k.mode, f"{max(k.until - now, 0.0):.0f}s"] for k in keys]
    table(["KEY", "HELD BY", "MODE", "AT MOST"], rows)
    if len(keys) == args.limit:
        sys.stdout.write(f"(the first {args.limit} keys; --limit N shows more)\n")
    return 0
