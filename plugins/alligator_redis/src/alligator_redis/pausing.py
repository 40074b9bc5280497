"""Pausing and resuming queues and functions (key and scripts: :mod:`alligator_redis.pauses`)."""

from __future__ import annotations

from alligator.pausing import MAX_PAUSE_NAME_BYTES, check_target, listed
from alligator_redis import pauses
from alligator_redis.base import (
    RedisBase,
)


class Pausing(RedisBase):
    """Pausing and resuming queues and functions (key and scripts: :mod:`alligator_redis.pauses`)."""

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or function in one script.

        See :meth:`~.capabilities.Pausing.set_paused`.


        Every pause of the store is a member of one key (see
        :mod:`alligator_redis.pauses` for why one key suits Redis Cluster).

        Raises:
            ValueError: A refused name, or past the cap; nothing is written.
            BackendError: Redis cannot be reached.
        """
        check_target(kind, name)
        args = (f"{kind}:{name}", "1" if paused else "0", self.max_pauses)
        with self._translated("{} the {} {!r}", "pause" if paused else "resume", kind, name):
            changed = int(self._eval(self._set_paused, (pauses.PAUSES_KEY,), *args))
        if changed < 0:
            raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
        return changed > 0

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in one script; see :meth:`~alligator.capabilities.Pausing.paused`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        longest = len("function:") + MAX_PAUSE_NAME_BYTES
        with self._translated("list the paused queues and functions"):
            reply = self._eval(self._paused, (pauses.PAUSES_KEY,), longest, self.max_pauses, raw=True)
        found = []
        for member in reply:
            if not isinstance(member, bytes):
                continue
            try:
                kind, _, name = member.decode().partition(":")
            except UnicodeDecodeError:
                continue  # the script checks UTF-8; a fake server might not
            found.append((kind, name))
        return listed(found, self.max_pauses)
