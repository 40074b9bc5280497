"""``alligator limits``: the rate and concurrency limit keys in use, what they hold and who waits."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from alligator import capabilities
from alligator.admin import Admin
from alligator.command._render import dump_json, table

#: The subcommands this module handles.
COMMANDS = ("limits",)


def limits(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator limits``: one row per key holding something now: kind, key, limit, held, waiting.

    Raises:
        Unsupported: The store cannot keep limits (the caller says so, exit 1).
    """
    states = capabilities.limiting(admin.backend).limit_states()
    if args.json:
        dump_json({"limits": [asdict(state) for state in states]})
    elif states:
        rows = [[s.kind, s.key, s.limit, s.held, s.waiting] for s in states]
        table(["KIND", "KEY", "LIMIT", "HELD", "WAITING"], rows)
    else:
        sys.stdout.write("no limit key holds anything now\n")
    return 0
