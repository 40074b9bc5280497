"""The example with a real worker: latergator started the documented way, in another process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alligator.constants import FAILED
from django.conf import settings
from django.db import connection, transaction

from sosocial.models import Post
from sosocial.queue import gator
from sosocial.tasks import send_post_email

PROJECT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "latergator"


def _wait_for(predicate, what, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def worker(transactional_db, tmp_path):
    """`latergator DSN --allow sosocial --setup sosocial.worker_setup`, started in the project directory."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "alligator"]
    command += [settings.ALLIGATOR_DSN, "--allow", "sosocial", "--setup", "sosocial.worker_setup"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPATH", "DJANGO_"))}
    # The worker opens the test database, and writes mail to files.
    env.update(SOSOCIAL_DB=connection.settings_dict["NAME"], SOSOCIAL_EMAIL_DIR=str(tmp_path / "mail"))
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(
            lambda: "latergator starting" in log.read_text() or proc.poll() is not None, "the start line"
        )
        assert proc.poll() is None, log.read_text()
        yield tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _author(django_user_model):
    author = django_user_model.objects.create_user("ann")
    author.followers.add(django_user_model.objects.create_user("bob", email="bob@example.com"))
    return author


def test_the_worker_sees_the_post_the_view_committed(worker, client, django_user_model):
    author = _author(django_user_model)
    client.force_login(author)

    response = client.post("/posts/new", {"message": "Hello"})

    assert response.status_code == 302
    post = Post.objects.get(author=author)
    _wait_for(lambda: Post.objects.get(pk=post.pk).followers_emailed is not None, "the task")
    assert Post.objects.get(pk=post.pk).followers_emailed == 1
    assert gator.dead_letters() == []
    [mail] = list((worker / "mail").iterdir())
    assert "To: bob@example.com" in mail.read_text()


def test_a_task_queued_inside_the_transaction_runs_before_the_commit(worker, django_user_model):
    # Why the view uses transaction.on_commit: queued inside the transaction,
    # the task can run before the commit, and then the post does not exist.
    author = _author(django_user_model)
    with transaction.atomic():
        post = Post.objects.create(author=author, message="Hello")
        task = gator.task(send_post_email, author.pk, post.pk)
        _wait_for(lambda: gator.status(task.task_id) == FAILED, "the task to fail")

    [letter] = gator.dead_letters()
    assert "Post.DoesNotExist" in letter.reason or "matching query does not exist" in letter.reason
