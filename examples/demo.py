"""The tutorial's flow across two processes, on the embedded default backend (SQLite).

This process enqueues tasks the way a web view would; a `latergator` worker
process takes them off the queue and runs them. Run it with `nox -s demo`
(or `python examples/demo.py` where alligator-core and alligator-sqlite are
installed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from demo_tasks import flaky_api_call, make_thumbnail, send_post_email  # noqa: E402

from alligator import Gator  # noqa: E402
from alligator.constants import STATUS_NAMES  # noqa: E402


def main() -> int:
    # Everything the demo writes lives here, and goes when it ends.
    with tempfile.TemporaryDirectory(prefix="alligator-demo-") as workdir:
        return run(Path(workdir))


def latergator() -> list[str]:
    """The worker command as a user types it, from the environment running the demo."""
    script = Path(sys.executable).parent / "latergator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "alligator"]


def run(workdir: Path) -> int:
    dsn = f"sqlite:///{workdir}/tasks.db"  # an absolute path: four slashes in all
    os.environ["DEMO_OUTBOX"] = str(workdir / "outbox.txt")
    # The one line that lets workers run our tasks: nothing else may run.
    gator = Gator(dsn, allow=["demo_tasks"])
    print(f"queue store: {dsn}")

    # What the web view does: queue the slow work and return at once.
    started = time.perf_counter()
    emails = [gator.task(send_post_email, user_id, 100 + user_id) for user_id in range(1, 6)]
    with gator.options(retries=2, retry_delay=0.2) as opts:
        flaky = opts.task(flaky_api_call, "weather")
    with gator.options(delay_by=1.0) as opts:
        delayed = opts.task(send_post_email, 42, 4242)
    with gator.options(depends_on=[flaky]) as opts:
        after = opts.task(send_post_email, 7, 707)
    broken = gator.task(make_thumbnail, 13)
    tasks = [*emails, flaky, delayed, after, broken]
    elapsed = (time.perf_counter() - started) * 1000
    print(f"enqueued {len(tasks)} tasks in {elapsed:.1f} ms; waiting in the queue: {gator.len()}")

    # Somewhere else, a worker: here a second process running `latergator`,
    # started in the directory of the tasks module, as the tutorial says.
    worker = subprocess.Popen(
        [*latergator(), dsn, "--allow", "demo_tasks", "--log-level", "WARNING"], cwd=HERE
    )
    print(f"started worker process {worker.pid}: latergator {dsn}")

    finished = {1, 2}  # SUCCESS, FAILED
    deadline = time.monotonic() + 60
    while any(gator.status(t.task_id) not in finished for t in tasks):
        if time.monotonic() > deadline or worker.poll() is not None:
            print("the worker did not finish the tasks in time", file=sys.stderr)
            worker.kill()
            worker.wait()
            return 1
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=30)
    print(f"worker stopped on SIGTERM with exit status {code}\n")

    for task in tasks:
        status = gator.status(task.task_id)
        print(f"  {task.callable}{tuple(task.func_args)}: {STATUS_NAMES.get(status, status)}")
    print("\noutbox:")
    with open(workdir / "outbox.txt") as outbox:
        print("".join(f"  {line}" for line in outbox))
    [letter] = gator.dead_letters()
    print(f"dead letter {letter.task_id} after {letter.attempts} attempt(s):")
    print("  " + letter.reason.strip().splitlines()[-1])
    ok = (
        code == 0
        and all(gator.status(t.task_id) == 1 for t in tasks if t is not broken)
        and letter.task_id == broken.task_id
    )
    gator.backend.close()
    print("\ndemo " + ("succeeded" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
