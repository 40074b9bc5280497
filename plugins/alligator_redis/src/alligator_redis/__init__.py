"""The Redis backend: many workers on many machines, one Redis (or Redis Cluster).

``Gator("redis://localhost:6379/0")`` stores each queue under keys that share
one hash tag, ``alligator:{QUEUE}:...``, and does every step that touches more
than one key in one Lua script (see :mod:`alligator_redis.keys` for the
key layout and :mod:`alligator_redis.scripts` for the scripts). So each step
is atomic, a reserve is one round trip, and the backend runs unchanged on
Redis Cluster. Due times and lease deadlines come
from the server's ``TIME``, never from the clocks of the workers.

DSNs, as :meth:`redis.Redis.from_url` reads them (its query options, such as
``socket_timeout`` or ``health_check_interval``, work too; :func:`check_dsn`
refuses a typo before anything connects)::

    redis://[[user]:password@]host[:port][/db]
    rediss://...                            TLS
    unix:///path/to/redis.sock?db=N
    redis://host:7000/0?cluster=true        Redis Cluster (any node as the seed)

A client you built yourself works too, e.g. for Sentinel or a fake server in
tests: ``RedisBackend.from_client(client)``; it must decode responses.

A worker blocked in :meth:`RedisBackend.reserve` waits on the queue's wake-up
list (``BLPOP``) that every push of a due task feeds, so an idle worker starts
a new task within a millisecond or so, and an empty queue costs no polling.

When Redis cannot be reached every method raises
:class:`alligator.exceptions.BackendError`, so ``gator.task()`` tells its
caller that nothing was queued, and a worker backs off and carries on. When
Redis refuses for a reason waiting cannot fix (a database it does not have,
bad credentials, a command it lacks: see :mod:`alligator_redis.errors`) the
error is :class:`~alligator.exceptions.PermanentBackendError`, and a worker
stops with it.
"""

from __future__ import annotations

from alligator_redis import diagnosis
from alligator_redis.base import Client
from alligator_redis.channels import _announced as _announced
from alligator_redis.consuming import Consuming
from alligator_redis.dsn import check_dsn
from alligator_redis.finishing import Finishing
from alligator_redis.inspecting import Inspecting
from alligator_redis.limiting import Limiting
from alligator_redis.pausing import Pausing
from alligator_redis.producing import PUSH_CHUNK, Producing
from alligator_redis.registry import Registry
from alligator_redis.scheduling import Scheduling
from alligator_redis.unique import Unique

__all__ = ["PUSH_CHUNK", "RedisBackend", "check_dsn"]
__version__ = "1.0.0"


class RedisBackend(
    Producing, Consuming, Finishing, Inspecting, Registry, Pausing, Unique, Scheduling, Limiting
):
    """Queues in Redis; see the module docstring.

    Its methods are written by concern in mixins over
    ``RedisBase`` in :mod:`~alligator_redis.base` (connection, scripts, keys):
    :mod:`~alligator_redis.producing`, :mod:`~alligator_redis.consuming`,
    :mod:`~alligator_redis.finishing`, :mod:`~alligator_redis.inspecting`,
    :mod:`~alligator_redis.registry`, :mod:`~alligator_redis.pausing` and
    :mod:`~alligator_redis.scheduling`.

    Example:
        >>> backend = RedisBackend("redis://localhost:6379/0")  # doctest: +SKIP
        >>> backend.push("emails", "t1", '{"...": 1}')  # doctest: +SKIP
        True

    Args:
        conn_string: The DSN (``redis://``, ``rediss://`` or ``unix://``);
            add ``cluster=true`` to its query string for Redis Cluster.
        client: A ready client to use instead of connecting to the DSN
            (``redis.Redis``, ``redis.cluster.RedisCluster``, or a fake with
            their interface), built with ``decode_responses=True``.

    Raises:
        InvalidDSNError: The DSN has a part redis-py cannot use (a database
            that is not a number, two different databases, an unknown
            option...); the message names it.
    """

    @classmethod
    def from_client(cls, client: Client, conn_string: str = "redis://") -> RedisBackend:
        """Builds a backend on a client you configured yourself.

        Example:
            >>> import fakeredis  # doctest: +SKIP
            >>> client = fakeredis.FakeRedis(decode_responses=True)  # doctest: +SKIP
            >>> backend = RedisBackend.from_client(client)  # doctest: +SKIP

        Args:
            client: A ``redis.Redis`` or ``RedisCluster`` (or a compatible
                fake) built with ``decode_responses=True``.
            conn_string: What to call it in messages.

        Returns:
            The backend.
        """
        return cls(conn_string, client=client)

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks persistence, eviction, memory, writes and a Cluster's health; see :mod:`.diagnosis`.

        Reads ``INFO persistence`` and ``INFO memory`` (and ``CONFIG GET
        save`` for the RDB schedule; managed servers and ACLs often refuse
        CONFIG, and then INFO alone decides), writes and deletes a probe key.
        On a cluster every primary is checked and named, after the cluster's
        own state. A server that answers but refuses INFO (a fake one, an
        ACL) gives a warning, not an error.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("check its settings"):
            return diagnosis.diagnose(self.client)

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """An evicting ``maxmemory-policy``, or no persistence.

        See :meth:`~.capabilities.Diagnosis.task_loss_risks`.


        Two INFO sections and ``CONFIG GET save``, on each primary of a cluster.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("check its settings"):
            return diagnosis.loss_risks(self.client)

    def close(self) -> None:
        """Closes the client's connections, and the one pushes go down (see :mod:`alligator_redis.held`)."""
        if self._direct:
            self._held.close()
        self.client.close()
