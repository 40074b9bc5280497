"""The example with a real worker: `python manage.py latergator`, in another process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.tasks import TaskResultStatus, default_task_backend
from django.tasks.exceptions import TaskResultDoesNotExist

from sosocial.models import Post
from sosocial.tasks import send_post_email

PROJECT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, what, seconds=90.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def worker(transactional_db, tmp_path):
    """`python manage.py latergator`, started in the project directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONPATH", "DJANGO_"))}
    # The worker opens the test database, and writes mail to files.
    env.update(SOSOCIAL_DB=connection.settings_dict["NAME"], SOSOCIAL_EMAIL_DIR=str(tmp_path / "mail"))
    log = tmp_path / "worker.log"
    command = [sys.executable, "manage.py", "latergator", "--processes", "1"]
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
    [mail] = list((worker / "mail").iterdir())
    assert "To: bob@example.com" in mail.read_text()


def test_the_result_is_read_back_through_django(worker, django_user_model):
    author = _author(django_user_model)
    post = Post.objects.create(author=author, message="Hello")

    result = send_post_email.enqueue(author.pk, post.pk)

    _wait_for(lambda: send_post_email.get_result(result.id).is_finished, "the task")
    done = send_post_email.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 1


def test_a_post_rolled_back_sends_no_email(worker, django_user_model):
    author = _author(django_user_model)
    with pytest.raises(RuntimeError), transaction.atomic():
        post = Post.objects.create(author=author, message="Hello")
        result = send_post_email.enqueue(author.pk, post.pk)
        raise RuntimeError("the view failed after queuing")

    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result.id)
    assert default_task_backend.gator("default").len() == 0
