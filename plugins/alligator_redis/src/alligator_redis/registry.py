"""The live workers' registry: heartbeats, records, forgetting a worker."""

from __future__ import annotations

from typing import Any

from alligator_redis import scripts
from alligator_redis.base import (
    RedisBase,
    _check_seconds,
    _Script,
)


class Registry(RedisBase):
    """The live workers' registry: heartbeats, records, forgetting a worker."""

    def _eval_registry(self, script: _Script, *args: Any, raw: bool = False) -> Any:
        """Runs one of the registry's scripts on its keys, in the order that script takes them."""
        keys = tuple(scripts.WORKER_KEYS[name] for name in script.script.keys)
        return self._eval(script, keys, *args, raw=raw)

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes a live worker's record in one script; see :meth:`~.capabilities.WorkerRegistry.heartbeat`.

        The registry's keys share one hash tag (``{%workers}``, one slot on
        a cluster). Expiry is data (each record's end on the backend's
        clock), trimmed by every heartbeat along with the oldest over
        :attr:`~alligator.backend.Backend.max_workers`; the keys also carry
        a native expiry a day past the TTL, so they vanish when every
        worker is gone.

        Raises:
            ValueError: ``ttl`` is NaN or infinite.
            BackendError: Redis cannot be reached.
        """
        _check_seconds(ttl, "ttl")
        args = (self._now_arg(), worker_id, record, repr(float(ttl)), self.max_workers)
        with self._translated("write the heartbeat of worker {}", worker_id):
            self._eval_registry(self._heartbeat, *args)

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record; see :meth:`~alligator.capabilities.WorkerRegistry.forget_worker`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("remove the record of worker {}", worker_id):
            return bool(self._eval_registry(self._forget_worker, worker_id))

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers, oldest heartbeat first.

        See :meth:`~.capabilities.WorkerRegistry.worker_records`.


        The script drops the expired records first and skips (never sends)
        a record over :attr:`~alligator.backend.Backend.max_payload_bytes`
        or one that is not UTF-8.

        Raises:
            BackendError: Redis cannot be reached.
        """
        args = (self._now_arg(), self.max_payload_bytes, self.max_workers)
        with self._translated("list the live workers"):
            reply = self._eval_registry(self._worker_records, *args, raw=True)
        found = []
        for i in range(0, len(reply) - len(reply) % 2, 2):
            worker_id, record = reply[i], reply[i + 1]
            if not (isinstance(worker_id, bytes) and isinstance(record, bytes)):
                continue
            try:
                found.append((worker_id.decode(), record.decode()))
            except UnicodeDecodeError:
                continue  # the script checks UTF-8; a fake server might not
        return found
