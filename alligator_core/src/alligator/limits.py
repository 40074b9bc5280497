"""Caps on what one task may ask for, enforced by the producer and the worker.

A payload is written by whoever can write to the store, so a worker never
takes a payload's word for how much work it may cause: every number it reads
is checked against these caps first. The producer refuses the same values
at enqueue, so an honest caller learns of a mistake at once.
"""

from __future__ import annotations

#: Most retries a task may ask for; the producer refuses more, and the worker
#: dead-letters a payload asking for more as unreadable.
MAX_RETRIES = 100
#: Longest wait before a retry, in seconds (a week); longer computed waits
#: are cut to it.
MAX_RETRY_DELAY = 7 * 24 * 3600.0
#: Most task ids one task may depend on; a payload naming more is
#: dead-lettered.
MAX_DEPENDENCIES = 100
#: Longest task id, in characters.
MAX_TASK_ID_LENGTH = 200
#: Longest reason kept in a dead letter, in characters.
MAX_REASON_CHARS = 4000
#: Longest time limit a task may ask for, in seconds (a week).
MAX_TIME_LIMIT = 7 * 24 * 3600.0
#: Longest a result is kept, in seconds (30 days).
MAX_RESULT_TTL = 30 * 24 * 3600.0
#: Lowest and highest priority a task may have within its queue (0 by default).
MIN_PRIORITY = -100
MAX_PRIORITY = 100
