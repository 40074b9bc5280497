"""Top-level code, as every ``__main__`` has, that a worker must never run.

A payload naming ``hostile_pkg.__main__`` as its module would import this
file: it records ``main-ran`` in the ledger and stops the process.
"""

import sys

from reliability_tasks import mark


def run(key: str) -> str:
    """What a payload names; it never gets this far."""
    mark(key)
    return key


mark("main-ran")
sys.exit(7)
