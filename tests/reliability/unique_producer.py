"""One producer process of the unique-tasks proof: threads enqueueing unique tasks at once.

``python unique_producer.py DSN QUEUE PROCESS THREADS PER_THREAD KEYS GO OUT [MS]``
writes ``OUT.ready`` once connected and waits for the file ``GO`` (so every
process starts enqueueing together), then each of
``THREADS`` threads enqueues ``PER_THREAD`` tasks of ``reliability_tasks.record``
with ``unique_key`` one of ``KEYS`` keys (``reliability_tasks.work`` of ``MS``
milliseconds when given), and writes one JSON line per enqueue to ``OUT``:
the key, the task's id, ``queued`` and ``held_by``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import reliability_tasks

from alligator import Gator


def main() -> None:
    dsn, queue, process, threads, per_thread, keys, go, out = sys.argv[1:9]
    milliseconds = int(sys.argv[9]) if len(sys.argv) > 9 else None
    gator = Gator(dsn, queue_name=queue, allow=["reliability_tasks"])
    lines: list[str] = []
    lock = threading.Lock()

    def produce(thread: int) -> None:
        first = (int(process) * int(threads) + thread) * int(per_thread)
        for n in range(first, first + int(per_thread)):
            key = f"key-{n % int(keys)}"
            with gator.options(unique_for=600, unique_key=key) as opts:
                if milliseconds is None:
                    task = opts.task(reliability_tasks.record, key)
                else:
                    task = opts.task(reliability_tasks.work, key, milliseconds)
            line = json.dumps(
                {"key": key, "id": task.task_id, "queued": task.queued, "held_by": task.held_by}
            )
            with lock:
                lines.append(line)

    gator.backend.now()  # connected: the store answers
    with open(out + ".ready", "w"):
        pass
    while not os.path.exists(go):
        time.sleep(0.005)
    workers = [threading.Thread(target=produce, args=(t,)) for t in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with open(out, "w") as file:
        file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
