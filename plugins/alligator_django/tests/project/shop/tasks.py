"""The test project's tasks: each is a Django task, enqueued through Django's own API."""

import asyncio
import os
from pathlib import Path

from django.db import connection
from django.tasks import task
from django.tasks.signals import task_enqueued, task_finished, task_started

from shop.models import Order


@task()
def add(a, b):
    return a + b


@task()
def fail(message):
    raise ValueError(message)


@task(retries=2, retry_delay=0)
def flaky(marker):
    """Fails until it has run three times (attempts 1 and 2 fail, 3 succeeds)."""
    path = Path(marker)
    runs = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(runs))
    if runs < 3:
        raise RuntimeError(f"run {runs}")
    return runs


@task(takes_context=True)
def attempt_of(context, note):
    return {"attempt": context.attempt, "id": context.task_result.id, "note": note}


@task()
async def sleep_then_add(a, b):
    await asyncio.sleep(0.01)
    return a + b


@task(queue_name="ordered")
def record(path, label):
    with open(path, "a") as out:
        out.write(label + "\n")
    return label


@task()
def count_orders():
    # Django is set up in the worker: the ORM works, on the database the tests use.
    return {"orders": Order.objects.count(), "database": os.path.basename(connection.settings_dict["NAME"])}


@task()
def order_label(order_id):
    """Reads the order the task was enqueued with: it must exist (committed) when the task runs."""
    return Order.objects.get(pk=order_id).label


@task()
def wait_for(path):
    """Runs until ``path`` exists (so a test can see it RUNNING)."""
    import time

    while not os.path.exists(path):
        time.sleep(0.02)
    return "done"


def _note_signal(kind):
    def receiver(sender, task_result, **kwargs):
        path = os.environ.get("SHOP_SIGNALS_FILE")
        if path:
            with open(path, "a") as out:
                out.write(f"{kind} {task_result.id} {task_result.status} {sender.__name__}\n")

    return receiver


# Django's signals, as the worker (and its scheduler) sends them: written to a file the tests read.
_receivers = {kind: _note_signal(kind) for kind in ("enqueued", "started", "finished")}
task_enqueued.connect(_receivers["enqueued"])
task_started.connect(_receivers["started"])
task_finished.connect(_receivers["finished"])


@task(queue_name="ordered")
def connection_is_open():
    """Whether this thread's database connection was open when the task began."""
    return connection.connection is not None


@task(queue_name="ordered")
def open_connection():
    return Order.objects.count()


@task(time_limit=1)
def overrun():
    """Runs past its time limit (in short naps: a limit interrupts Python code, not one long C call)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)


@task(time_limit=1, queue_name="ordered")
def stuck():
    """Ignores its time limit, in C code (swallowing whatever lands between sleeps): only a kill stops it."""
    import time

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            time.sleep(max(0.0, deadline - time.monotonic()))
        except BaseException:
            pass


@task(queue_name="ordered")
def die():
    """Kills its own worker process, every time it runs (as the kernel's OOM killer would)."""
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


@task(unique_for=60)
def refresh(item):
    """A unique task: one waiting per item."""
    return item


@task(rate_limit="100/s")
def limited_a():
    return "a"


@task(rate_limit="100/s")
def limited_b():
    return "b"
