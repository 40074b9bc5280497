"""A task package whose code must run at most once per process.

The hostile-record proof names this package's ``__main__`` and its
``__init__`` as task modules, as a payload written by anyone may. A worker
must refuse both without importing them: importing ``hostile_pkg.__main__``
runs its top-level code (which records ``main-ran`` and calls
``sys.exit``), and importing ``hostile_pkg.__init__`` runs this file a second
time under another name (which records ``init-ran``). Those records, in the
ledger outside the queue, show that the code ran.
"""

from __future__ import annotations

from reliability_tasks import mark, record

if __name__ != "hostile_pkg":  # imported again, as hostile_pkg.__init__
    mark("init-ran")


def ok(key: str) -> str:
    """A well-behaved task of this package."""
    return record(key)
