"""Constants shared by tasks, queues and workers."""

from __future__ import annotations

#: The task is in the queue, ready to be handed to a worker.
WAITING = 0
#: The task ran and its function returned.
SUCCESS = 1
#: The task failed for good (its retries are spent, or it could not be run).
FAILED = 2
#: The task is in the queue but will not be handed out before its time.
DELAYED = 3
#: The task raised and is going back on the queue for another try.
RETRYING = 4
#: A worker holds the task under a lease and is running it.
RUNNING = 5

#: The default queue name.
ALL = "all"

#: Readable names of the task states, for logs and error messages.
STATUS_NAMES = {
    WAITING: "waiting",
    SUCCESS: "success",
    FAILED: "failed",
    DELAYED: "delayed",
    RETRYING: "retrying",
    RUNNING: "running",
}
