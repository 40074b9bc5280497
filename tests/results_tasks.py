"""Task functions the result tests queue: values JSON can and cannot carry."""

from __future__ import annotations

from typing import Any


def add(a: int, b: int) -> int:
    return a + b


def give(value: Any) -> Any:
    """Returns its argument, so a test picks the result."""
    return value


def give_set() -> set[int]:
    return {1, 2}


def give_nan() -> float:
    return float("nan")


def give_object() -> object:
    return object()


def give_text(length: int) -> str:
    return "x" * length


def give_tuple() -> tuple[int, str]:
    return (1, "a")


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def give_snowmen(count: int) -> str:
    return "\u2603" * count


def give_int_keys() -> dict[int, str]:
    return {1: "one", 2: "two"}
