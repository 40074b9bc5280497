"""Under ``--processes`` with ``--max-tasks-per-child``, the metrics stay bounded: one label budget for
every child, and dead children's files folded into one. A real supervisor, its children and endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import many_functions
from test_metrics import scrape
from test_metrics_command import HERE, free_port

from alligator import Gator
from alligator.metrics import MAX_FUNCTIONS, OTHER


def test_one_label_budget_for_every_child_and_no_pile_of_dead_files(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="many", allow=["many_functions"])
    for number in range(many_functions.COUNT):
        gator.task(getattr(many_functions, f"fn_{number:03d}"))
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        TMPDIR=str(temp),
    )
    command = [sys.executable, "-m", "alligator", dsn, "--queue", "many", "--allow", "many_functions"]
    command += ["--processes", "2", "--max-tasks-per-child", "15", "--metrics-port", str(port)]
    proc = subprocess.Popen(
        command, env=env, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    totals: list[float] = []
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                values = scrape(port)
            except OSError:
                time.sleep(0.2)
                continue
            totals.append(sum(v for (n, _), v in values.items() if n == "alligator_tasks_succeeded_total"))
            if totals[-1] >= many_functions.COUNT:
                break
            time.sleep(0.1)
        [directory] = list(temp.glob("alligator-metrics-*"))
        time.sleep(2)  # the endpoint folds the last dead children's files in within a second
        files = sorted(p.name for p in directory.glob("*.db"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert totals and totals[-1] == many_functions.COUNT, out
    # Counters never went backwards while children came and went.
    assert totals == sorted(totals), totals
    succeeded = [dict(labels) for (name, labels) in values if name == "alligator_tasks_succeeded_total"]
    functions = {labels["function"] for labels in succeeded}
    assert OTHER in functions
    assert len(functions - {OTHER}) <= MAX_FUNCTIONS, len(functions)
    # Twelve children ran them; what is left is the live ones' files and the two merged ones.
    assert out.count("exited after its tasks") >= 10, out
    assert len(files) <= 2 * 4 + 2, files
    assert proc.returncode == 0, out
