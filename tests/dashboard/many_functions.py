"""Task functions by the hundred (``fn_000`` ... ``fn_179``): more names than the metrics' label budget."""

from __future__ import annotations

from collections.abc import Callable

COUNT = 180


def _make(number: int) -> Callable[[], int]:
    def function() -> int:
        return number

    function.__name__ = function.__qualname__ = f"fn_{number:03d}"
    return function


for _number in range(COUNT):
    globals()[f"fn_{_number:03d}"] = _make(_number)
