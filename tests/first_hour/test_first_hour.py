"""A new user's first hour, with real processes (issue 9, "Done when").

A fresh virtualenv gets the README's install command, run from this
checkout; a project directory holds a ``tasks`` module; one process queues
tasks with ``Gator(...)``; ``latergator``, started in that directory, runs
them all. Then the usual beginner's mistakes, each of which must say what is
wrong: a mistyped DSN (item 5), a worker with nothing allowed (item 4), a
worker started from another directory (item 6).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from first_hour_helpers import clean_env, write

CHECKOUT = Path(__file__).resolve().parents[2]

TASKS = """
    from pathlib import Path


    def send_post_email(user_id, post_id):
        Path(f"sent-{user_id}-{post_id}").write_text("sent")
        return f"emailed the followers of {user_id} about {post_id}"
"""

APP = """
    from alligator import Gator
    from tasks import send_post_email

    gator = Gator("sqlite:///tasks.db", allow=["tasks"])
    for user_id in range(1, 6):
        print(gator.task(send_post_email, user_id, 100 + user_id).task_id)
"""

STATUSES = """
    import sys
    from alligator import Gator
    from alligator.constants import STATUS_NAMES

    gator = Gator("sqlite:///tasks.db")
    print(" ".join(STATUS_NAMES.get(gator.status(task_id), "unknown") for task_id in sys.argv[1:]))
"""


@dataclass
class Venv:
    bin: Path
    project: Path

    def run(
        self, *argv: str, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            cwd=cwd or self.project,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_latergator(self, *args: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [str(self.bin / "latergator"), *args],
                cwd=cwd,
                env=clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def readme_install_command() -> list[str]:
    """The README's install command: the one ``pip install ./...`` line of its shell blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", (CHECKOUT / "README.md").read_text(), re.S)
    [line] = [line for block in blocks for line in block.splitlines() if line.startswith("pip install ./")]
    return line.split("#")[0].split()


def _wait_for(predicate, what: str, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("first-hour")
    subprocess.run(
        [sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300, env=clean_env()
    )
    bin_dir = root / "venv" / "bin"
    command = readme_install_command()
    assert command[:2] == ["pip", "install"], command
    # The README's command, as a user types it at the top of the checkout;
    # pip keeps its configuration (index, cache) but sees no test settings.
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", *command[1:], "--quiet", "--disable-pip-version-check"],
        cwd=CHECKOUT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    project = root / "project"
    write(project / "tasks.py", TASKS)
    write(project / "app.py", APP)
    write(project / "statuses.py", STATUSES)
    yield Venv(bin_dir, project)


def test_tasks_queued_in_one_process_all_run_in_a_latergator_started_in_the_project(
    venv: Venv, tmp_path: Path
) -> None:
    queued = venv.run("python", "app.py")
    assert queued.returncode == 0, queued.stderr
    task_ids = queued.stdout.split()
    assert len(task_ids) == 5

    log = tmp_path / "worker.log"
    worker = venv.start_latergator("sqlite:///tasks.db", "--allow", "tasks", cwd=venv.project, log=log)
    try:
        _wait_for(
            lambda: (
                all((venv.project / f"sent-{n}-{100 + n}").exists() for n in range(1, 6))
                or worker.poll() is not None
            ),
            "every task to run",
        )
    finally:
        code = _stop(worker)
    output = log.read_text()
    assert code == 0, output
    statuses = venv.run("python", "statuses.py", *task_ids)
    assert statuses.stdout.split() == ["success"] * 5, statuses.stderr + output
    assert f"latergator starting in {venv.project}" in output
    assert "allowed: tasks" in output


def test_a_mistyped_scheme_gets_a_suggestion_and_nothing_else(venv: Venv) -> None:
    done = venv.run("latergator", "sqlit:///tasks.db", "--allow", "tasks")
    assert done.returncode == 2
    assert done.stderr == (
        "latergator: error: no Alligator backend handles the scheme 'sqlit' (installed: sqlite); "
        "did you mean 'sqlite' (sqlite://...)?\n"
    )


def test_a_worker_with_nothing_allowed_does_not_start(venv: Venv) -> None:
    done = venv.run("latergator", "sqlite:///tasks.db")
    assert done.returncode == 2
    assert "no task modules are allowed" in done.stderr
    assert "--allow" in done.stderr


def _refused(venv: Venv, *args: str, cwd: Path, log: Path) -> tuple[int, str]:
    """Starts latergator and waits for it to exit on its own; a worker that runs on fails the test."""
    worker = venv.start_latergator(*args, cwd=cwd, log=log)
    try:
        code = worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = _stop(worker)
        raise AssertionError(f"latergator started (exit {code} on SIGTERM): {log.read_text()}") from None
    return code, log.read_text()


def test_a_worker_started_in_another_directory_refuses_to_start_naming_the_module_and_directory(
    venv: Venv, tmp_path: Path
) -> None:
    # Issue 17, 7.2: it used to start, then dead-letter every task of "tasks".
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, output = _refused(
        venv, "sqlite:///tasks.db", "--allow", "tasks", cwd=elsewhere, log=tmp_path / "w.log"
    )
    assert code == 2, output
    assert "--allow tasks: allowed module tasks does not import here: ModuleNotFoundError" in output
    assert f"modules are imported from {elsewhere} and the installed packages" in output
    assert "--path" in output
    assert not (elsewhere / "tasks.db").exists(), "refused before the store was opened (and created)"


def test_a_mistyped_allowed_module_refuses_to_start(venv: Venv, tmp_path: Path) -> None:
    code, output = _refused(
        venv, "sqlite:///tasks.db", "--allow", "taks", cwd=venv.project, log=tmp_path / "w.log"
    )
    assert code == 2, output
    assert "--allow taks: allowed module taks does not import here" in output
    assert "No module named 'taks'" in output
    assert str(venv.project) in output


def test_a_worker_that_creates_its_store_warns_with_the_absolute_path(venv: Venv, tmp_path: Path) -> None:
    # Issue 17, 7.6: the modules import (--path), but the relative DSN opens a
    # new, empty file in the wrong directory: a WARNING, not only an INFO line.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = tmp_path / "worker.log"
    worker = venv.start_latergator(
        "sqlite:///tasks.db", "--allow", "tasks", "--path", str(venv.project), cwd=elsewhere, log=log
    )
    try:
        _wait_for(lambda: "is new and empty" in log.read_text() or worker.poll() is not None, "the warning")
    finally:
        code = _stop(worker)
    output = log.read_text()
    assert code == 0, output
    # One line per worker process (by default one per usable CPU); the one
    # that created the file says so, and warns.
    starts = [line for line in output.splitlines() if "latergator starting" in line]
    assert starts and all(f"latergator starting in {elsewhere}" in start for start in starts)
    database = str(elsewhere / "tasks.db")
    assert any(f"{database} (created now)" in start for start in starts)
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    assert warnings and all(f"the store {database} (created now) is new and empty" in w for w in warnings)


def test_a_worker_that_opens_an_existing_store_does_not_warn(venv: Venv, tmp_path: Path) -> None:
    queued = venv.run("python", "app.py")
    assert queued.returncode == 0, queued.stderr
    log = tmp_path / "worker.log"
    worker = venv.start_latergator("sqlite:///tasks.db", "--allow", "tasks", cwd=venv.project, log=log)
    try:
        _wait_for(lambda: "allowed task modules" in log.read_text() or worker.poll() is not None, "start")
    finally:
        code = _stop(worker)
    output = log.read_text()
    assert code == 0, output
    assert "allowed task modules" in output, "the start lines after which the warning would come"
    assert "WARNING" not in output and "created now" not in output, output


def test_latergator_reads_the_dsn_from_ALLIGATOR_DSN_as_alligator_does(venv: Venv, tmp_path: Path) -> None:
    # Issue 17, 7.5: latergator took no DSN from the environment.
    database = tmp_path / "from-env.db"
    env = clean_env(ALLIGATOR_DSN=f"sqlite:///{database}")
    with open(tmp_path / "worker.log", "wb") as out:
        worker = subprocess.Popen(
            [str(venv.bin / "latergator"), "--allow", "tasks"],
            cwd=venv.project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(
            lambda: (
                "latergator starting" in (tmp_path / "worker.log").read_text() or worker.poll() is not None
            ),
            "the start line",
        )
    finally:
        code = _stop(worker)
    output = (tmp_path / "worker.log").read_text()
    assert code == 0, output
    assert f"store {database}" in output
    info = subprocess.run(
        [str(venv.bin / "alligator"), "info"], env=env, capture_output=True, text=True, timeout=120
    )
    assert info.returncode == 0, info.stderr
    assert f"store {database}" in info.stdout


def test_latergator_without_a_dsn_says_how_to_give_one(venv: Venv) -> None:
    done = venv.run("latergator", "--allow", "tasks")
    assert done.returncode == 2
    assert "give the DSN of the store (e.g. sqlite:///tasks.db), or set ALLIGATOR_DSN" in done.stderr


def test_the_scheme_check_of_installing_md_prints_what_the_readme_install_gives(venv: Venv) -> None:
    # Issue 17, 7.10: installing.md showed ['locmem', 'sqlite'] after the README's install.
    text = (CHECKOUT / "docs" / "installing.md").read_text()
    found = re.search(r"```console\n\$ python -c \"(.*?installed_schemes.*?)\"\n(.*?)\n```", text, re.S)
    assert found is not None, "installing.md shows the scheme check"
    code, shown = found.groups()
    done = venv.run("python", "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == shown.strip()
