"""Task functions only the pausing tests queue, so pausing them affects no other test of a shared store."""

from __future__ import annotations


def note(path: str, label: str) -> str:
    """Appends ``label`` to the file at ``path``, so the test sees which tasks ran."""
    with open(path, "a") as handle:
        handle.write(f"{label}\n")
    return label


def held(path: str, label: str) -> str:
    """The same as :func:`note`, under another name: the tests pause this one."""
    return note(path, label)
