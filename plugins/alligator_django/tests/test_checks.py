"""`manage.py check`: a DSN that does not parse, a store that does not answer."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT


def _check(tmp_path, dsn, **extra):
    env = {"PATH": "/usr/bin:/bin", "SHOP_TASKS_DSN": dsn, "SHOP_DB": str(tmp_path / "db.sqlite3"), **extra}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_good_store_passes(tmp_path):
    done = _check(tmp_path, f"sqlite:///{tmp_path}/tasks.db")
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_a_dsn_that_does_not_parse_is_reported(tmp_path):
    done = _check(tmp_path, "nosuchstore://x")
    assert done.returncode != 0
    assert "alligator_django.E001" in done.stderr and "nosuchstore" in done.stderr


def test_a_store_that_does_not_answer_is_reported(tmp_path):
    done = _check(tmp_path, "redis://127.0.0.1:1/0")
    assert done.returncode != 0
    assert "alligator_django.E002" in done.stderr and "does not answer" in done.stderr


def test_a_task_outside_the_modules_the_worker_runs_is_warned_of(tasks_settings):
    from elsewhere import tasks_outside

    from alligator_django.checks import check_backends

    [warning] = [w for w in check_backends() if w.id == "alligator_django.W001"]
    assert tasks_outside.outside.module_path in warning.msg
    assert "TASK_MODULES" in warning.hint


def test_a_database_option_the_store_cannot_write_through_is_reported(tmp_path):
    done = _check(tmp_path, "redis://127.0.0.1:6379/15", SHOP_TASKS_DATABASE="default")
    assert done.returncode != 0
    assert "alligator_django.E004" in done.stderr and "cannot write tasks through" in done.stderr
    done = _check(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", SHOP_TASKS_DATABASE="elsewhere")
    assert "alligator_django.E004" in done.stderr and "names no DATABASES entry" in done.stderr
    done = _check(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", SHOP_TASKS_DATABASE="default")
    assert done.returncode == 0, done.stderr
