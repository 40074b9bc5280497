"""A module no test allows: importing it leaves a mark, so tests can prove it never was."""

IMPORTED = True


def run() -> str:
    return "this must never run"
