"""latergator imports the project's modules from where it is started, and from --path (issue 9, item 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from first_hour_helpers import clean_env, enqueue, run_latergator, write

from alligator import Gator
from alligator.constants import SUCCESS

TASKS = """
    from pathlib import Path


    def record(path, text):
        Path(path).write_text(text)
        return text
"""

# Stands in for an installed package; a worker that imported it would say so.
PLANTED = """
    from pathlib import Path

    Path(__file__).parent.with_name("PLANTED-WAS-IMPORTED").write_text("yes")
    raise SystemExit("the planted package was imported")
"""


def test_latergator_imports_tasks_from_the_directory_it_is_started_in(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "projtasks.py", TASKS)
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    out = tmp_path / "out.txt"
    task_id = enqueue(project, dsn, "projtasks", "record", str(out), "ran")

    done = run_latergator([dsn, "--allow", "projtasks", "--max-tasks", "1"], cwd=project)

    assert done.returncode == 0, done.stderr
    assert out.read_text() == "ran", done.stderr
    assert Gator(dsn).status(task_id) == SUCCESS
    [start] = [line for line in done.stderr.splitlines() if "latergator starting" in line]
    assert f"latergator starting in {project}" in start
    assert f"task modules from {project} and the installed packages" in start
    assert "allowed: projtasks" in start
    assert "store " in start


def test_path_adds_directories_relative_or_absolute(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "src" / "reltasks.py", TASKS)
    write(tmp_path / "elsewhere" / "abstasks.py", TASKS)
    project.mkdir(exist_ok=True)
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    first = enqueue(project / "src", dsn, "reltasks", "record", str(tmp_path / "rel.txt"), "rel")
    second = enqueue(tmp_path / "elsewhere", dsn, "abstasks", "record", str(tmp_path / "abs.txt"), "abs")

    paths = ["--path", "src", "--path", str(tmp_path / "elsewhere")]
    done = run_latergator(
        [dsn, "--allow", "reltasks", "--allow", "abstasks", "--max-tasks", "2", *paths], project
    )

    assert done.returncode == 0, done.stderr
    gator = Gator(dsn)
    assert (gator.status(first), gator.status(second)) == (SUCCESS, SUCCESS), done.stderr
    assert f"task modules from {project}, {project / 'src'}, {tmp_path / 'elsewhere'} and" in done.stderr


def test_a_planted_directory_cannot_shadow_an_installed_package(tmp_path: Path) -> None:
    # The worker imports alligator_sqlite for the sqlite:// DSN: a copy planted
    # in the start directory or in a --path directory must not be the one used.
    project = tmp_path / "project"
    write(project / "projtasks.py", TASKS)
    write(project / "alligator_sqlite" / "__init__.py", PLANTED)
    write(tmp_path / "extra" / "alligator_sqlite" / "__init__.py", PLANTED)
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    task_id = enqueue(tmp_path, dsn, "json", "dumps", [1])

    done = run_latergator(
        [dsn, "--allow", "json", "--max-tasks", "1", "--path", str(tmp_path / "extra")], cwd=project
    )

    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PLANTED-WAS-IMPORTED")), done.stderr
    assert Gator(dsn).status(task_id) == SUCCESS


def test_python_m_alligator_keeps_the_start_directory_behind_the_installed_packages(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "projtasks.py", TASKS)
    write(project / "alligator_sqlite" / "__init__.py", PLANTED)
    # The producer runs from a clean copy of the project.
    write(tmp_path / "web" / "projtasks.py", TASKS)
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    out = tmp_path / "out.txt"
    task_id = enqueue(tmp_path / "web", dsn, "projtasks", "record", str(out), "ran")

    done = subprocess.run(
        [sys.executable, "-m", "alligator", dsn, "--allow", "projtasks", "--max-tasks", "1"],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PLANTED-WAS-IMPORTED")), done.stderr
    assert Gator(dsn).status(task_id) == SUCCESS
    assert out.read_text() == "ran"


def test_a_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    done = run_latergator(["sqlite:///q.db", "--allow", "x", "--path", "nosuch"], cwd=tmp_path)
    assert done.returncode == 2
    assert f"--path nosuch: no such directory (from {tmp_path})" in done.stderr
