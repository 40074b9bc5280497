"""locmem's unique keys: a dict per queue, read and written under the store's lock."""

from __future__ import annotations

from alligator.backend import check_window
from alligator.unique_store import DEBOUNCE, MAX_LISTED_KEYS, HeldKey, holds
from alligator_locmem.required import RequiredLocmem


class UniqueLocmem(RequiredLocmem):
    """Takes a unique key with the push; see :class:`~alligator.unique_store.UniqueKeys`."""

    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """Pushes unless ``key`` is held, under the store's lock; see :meth:`.UniqueKeys.push_unique`."""
        self._check_delay(delay)
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            record = q.unique.get(key)
            replaced = ""
            if record is not None and self._holds(queue, record, now):
                holder = record[0]
                if mode != DEBOUNCE or record[1] != DEBOUNCE:
                    return False, holder
                # Debounce: the waiting holder gives way to the newest call.
                if self.cancel(queue, holder):
                    replaced = holder
            if not self.push(queue, task_id, payload, delay):
                return False, ""
            q.unique[key] = (task_id, mode, now + max(delay, 0.0) + window)
            return True, replaced

    def _holds(self, queue: str, record: tuple[str, str, float], now: float) -> bool:
        holder, mode, until = record
        return holds(mode, self.status(queue, holder), now, until)

    def unique_keys(self, queue: str, limit: int = 100) -> list[HeldKey]:
        """Lists the held keys, sorted; drops the records that hold nothing any more."""
        check_window(0, limit)
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            held = []
            for key, record in list(q.unique.items()):
                if self._holds(queue, record, now):
                    held.append(HeldKey(key, *record))
                else:
                    del q.unique[key]
        return sorted(held)[: min(limit, MAX_LISTED_KEYS)]
