"""``alligator schedules``: each schedule the store has a record of, with its last and next tick."""

from __future__ import annotations

import argparse
import sys
import time

from alligator import capabilities
from alligator.admin import Admin
from alligator.command._render import dump_json, table
from alligator.text import printable

#: The subcommands this module handles.
COMMANDS = ("schedules",)


def schedules(admin: Admin, args: argparse.Namespace) -> int:
    """``alligator schedules``: name, queue, last tick enqueued, next tick and expression of each schedule.

    The next tick is computed from what the scheduler wrote in the store, so
    neither the schedule module nor a running worker is needed.
    """
    from alligator.schedules import describe_record

    records = capabilities.scheduling(admin.backend).schedule_records()
    now = time.time()
    rows = [describe_record(record, now) for record in records]
    if args.json:
        dump_json({"schedules": rows})
    elif rows:
        table(
            ["NAME", "QUEUE", "LAST", "NEXT", "EXPRESSION"],
            [
                [
                    printable(row["name"]),
                    printable(row["queue"]),
                    row["last"],
                    row["next"],
                    printable(row["expression"]),
                ]
                for row in rows
            ],
        )
    else:
        sys.stdout.write("no schedule has enqueued a tick in this store\n")
    return 0
