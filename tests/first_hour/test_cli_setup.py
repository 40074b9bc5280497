"""latergator --setup runs the project's set-up code before any task (issue 9, item 2)."""

from __future__ import annotations

from pathlib import Path

from first_hour_helpers import enqueue, run_latergator, write

from alligator import Gator
from alligator.constants import SUCCESS

TASKS = """
    from pathlib import Path

    CONFIGURED = []


    def report(path):
        Path(path).write_text(",".join(CONFIGURED) or "not configured")
"""


def _project(tmp_path: Path) -> tuple[Path, str, Path, str]:
    project = tmp_path / "project"
    write(project / "setuptasks.py", TASKS)
    write(
        project / "worker_setup.py",
        """
        import setuptasks

        setuptasks.CONFIGURED.append("imported")


        def configure():
            setuptasks.CONFIGURED.append("called")
        """,
    )
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    out = tmp_path / "out.txt"
    return project, dsn, out, enqueue(project, dsn, "setuptasks", "report", str(out))


def test_setup_module_is_imported_before_the_first_task(tmp_path: Path) -> None:
    project, dsn, out, task_id = _project(tmp_path)
    done = run_latergator(
        [dsn, "--allow", "setuptasks", "--max-tasks", "1", "--setup", "worker_setup"], project
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "imported"
    assert Gator(dsn).status(task_id) == SUCCESS


def test_setup_module_colon_function_also_calls_the_function(tmp_path: Path) -> None:
    project, dsn, out, _ = _project(tmp_path)
    done = run_latergator(
        [dsn, "--allow", "setuptasks", "--max-tasks", "1", "--setup", "worker_setup:configure"], project
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "imported,called"


def test_a_failing_setup_exits_2_with_the_reason_and_runs_nothing(tmp_path: Path) -> None:
    project, dsn, out, _task_id = _project(tmp_path)
    write(project / "broken_setup.py", 'raise RuntimeError("DJANGO_SETTINGS_MODULE is not set")\n')
    done = run_latergator([dsn, "--allow", "setuptasks", "--setup", "broken_setup"], project)
    assert done.returncode == 2
    assert (
        "latergator: error: --setup broken_setup failed: RuntimeError: DJANGO_SETTINGS_MODULE is not set"
        in done.stderr
    )
    assert "Traceback" in done.stderr
    assert not out.exists()


def test_a_setup_module_that_is_not_found_says_where_it_was_looked_for(tmp_path: Path) -> None:
    project, dsn, _, _ = _project(tmp_path)
    done = run_latergator([dsn, "--allow", "setuptasks", "--setup", "nosuch_setup"], project)
    assert done.returncode == 2
    assert "--setup nosuch_setup failed: ModuleNotFoundError: No module named 'nosuch_setup'" in done.stderr
    assert f"modules are imported from {project} and the installed packages" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_with_nothing_allowed_refuses_to_start(tmp_path: Path) -> None:
    project, dsn, out, _task_id = _project(tmp_path)
    done = run_latergator([dsn, "--max-tasks", "1"], project)
    assert done.returncode == 2
    assert "no task modules are allowed" in done.stderr
    assert "--allow MODULE" in done.stderr and "ALLIGATOR_ALLOW" in done.stderr
    assert not out.exists()
    assert Gator(dsn).len() == 1, "the queue is left alone"


def test_nothing_allowed_refuses_before_the_store_is_opened(tmp_path: Path) -> None:
    done = run_latergator(["sqlite:///tasks.db"], tmp_path)
    assert done.returncode == 2
    assert "no task modules are allowed" in done.stderr
    assert not (tmp_path / "tasks.db").exists(), "a worker that does not start creates no database"
