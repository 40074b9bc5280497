"""Rules the core once kept in several places, now kept in one (issue 19, point 2).

The reason texts have their own proof (``test_reasons.py``); the retry rule of
``Gator.execute`` is proven in ``test_gator.py``. Here: the time-limit rule,
the arguments-fit check and the strict JSON dialect of stored results.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

from alligator import Gator, Task, Worker
from alligator.backend import Backend
from alligator.exceptions import InvalidPayloadError
from alligator.payload import decode_result, loads
from alligator.registry import backend_class_for
from alligator.tasks import check_time_limit
from alligator.utils import arguments_fit
from alligator.worker_arguments import build_parser

CORE = Path(__file__).resolve().parents[1] / "alligator_core" / "src" / "alligator"


# -- time_limit: one validator for a task's own limit, a Worker's and latergator's ----------


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1e9", "604801"])
def test_latergator_refuses_the_limits_a_task_refuses(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    # --time-limit took any positive number, infinity and 1e9 included, while
    # a task's own limit (and a Worker's) is at most a week.
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["locmem://", "--time-limit", bad])
    assert stopped.value.code == 2
    assert "--time-limit must be above 0 and at most 604800 seconds" in capsys.readouterr().err


def test_latergator_takes_a_limit_up_to_a_week() -> None:
    assert build_parser().parse_args(["locmem://", "--time-limit", "604800"]).time_limit == 604800.0
    assert build_parser().parse_args(["locmem://", "--time-limit", "0.5"]).time_limit == 0.5


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, 10**9, 604800.5])
def test_a_worker_and_a_task_refuse_a_limit_in_the_same_words(bad: float) -> None:
    with pytest.raises(ValueError) as by_task:
        check_time_limit(bad)
    with pytest.raises(ValueError) as by_worker:
        Worker(Gator("locmem://rules-once"), time_limit=bad)
    assert str(by_worker.value) == str(by_task.value)


def test_a_worker_keeps_a_valid_limit_as_a_float() -> None:
    assert Worker(Gator("locmem://rules-once"), time_limit=5).time_limit == 5.0
    assert Worker(Gator("locmem://rules-once")).time_limit is None
    assert Task(time_limit=5).time_limit == 5.0


# -- the arguments-fit check: one, for the producer and the worker -------------------------


def _two(a: int, b: int = 2) -> int:
    return a + b


def test_arguments_fit_is_the_check_both_sides_use() -> None:
    assert arguments_fit(_two, (1,), {}) and arguments_fit(_two, (), {"a": 1, "b": 3})
    assert not arguments_fit(_two, (), {}) and not arguments_fit(_two, (1, 2, 3), {})
    assert not arguments_fit(_two, (1,), {"c": 1})
    assert arguments_fit(print, (1, 2, 3), {"sep": ","})


def test_only_utils_binds_a_signature() -> None:
    binders = sorted(
        path.relative_to(CORE).as_posix()
        for path in CORE.rglob("*.py")
        if ".bind(" in path.read_text(encoding="utf-8")
    )
    assert binders == ["utils.py"]


# -- the strict JSON dialect: one decoder for payloads and results -------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_a_stored_result_is_read_in_the_payload_s_dialect(number: str) -> None:
    # Results had a decoder of their own that let 1e999 through as infinity.
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        decode_result(f"[{number}]")
    with pytest.raises(InvalidPayloadError, match=number.lstrip("-")):
        loads(f'{{"a": [{number}]}}')


def test_finite_results_still_read() -> None:
    assert decode_result("[1.5, -1e308, 0]") == [1.5, -1e308, 0]


def test_one_json_decoder_in_the_core() -> None:
    decoders = sorted(
        path.relative_to(CORE).as_posix()
        for path in CORE.rglob("*.py")
        for _ in range(path.read_text(encoding="utf-8").count("JSONDecoder("))
    )
    assert decoders == ["payload.py"]


# -- the limits a store enforces: the core's defaults, declared once ---------------------


#: Every plugin's sources, read as text (the core session installs locmem only).
PLUGIN_SOURCES = Path(__file__).resolve().parents[1] / "plugins"


@pytest.mark.parametrize("plugin", ["alligator_locmem", "alligator_sqlite", "alligator_redis"])
def test_no_backend_declares_the_core_s_limits_again(plugin: str) -> None:
    # Each plugin repeated `max_task_id_bytes: int = 1024` from the core's Backend.
    for path in sorted((PLUGIN_SOURCES / plugin / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [getattr(statement, "target", None)]
                )
                names = {target.id for target in targets if isinstance(target, ast.Name)}
                assert not names & {"max_task_id_bytes", "max_payload_bytes"}, (path, node.name)
    cls = backend_class_for("locmem://")
    assert cls.max_task_id_bytes == Backend.max_task_id_bytes
