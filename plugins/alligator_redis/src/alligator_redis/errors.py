"""Which Redis errors retrying cannot fix, and what to do about each.

An outage (a refused connection, a timeout, a failover in progress,
``LOADING``, ``READONLY``, ``OOM``) passes: a worker waits and tries again.
A wrong database number, bad credentials, a user the ACL does not let run
a command, or a command the server does not have stay wrong however long
one waits: those become
:class:`~alligator.exceptions.PermanentBackendError`, so the worker and the
``alligator`` command stop with the reason instead of retrying for ever.
"""

from __future__ import annotations

import redis
from redis.exceptions import NoPermissionError, RedisError

#: Replies that mean the DSN names a database the server does not have.
_NO_SUCH_DB = ("DB index is out of range", "invalid DB index", "SELECT is not allowed in cluster mode")
#: Replies that mean the server has no such command (too old, renamed, disabled).
#: Only for commands Alligator itself sends: no task's own Redis calls reach here.
_NO_SUCH_COMMAND = ("unknown command", "unknown subcommand")


def permanent_hint(err: RedisError) -> str | None:
    """What to fix when ``err`` is one retrying cannot cure; None for an outage (retry it).

    Example:
        >>> from redis.exceptions import ResponseError
        >>> permanent_hint(ResponseError("DB index is out of range")).startswith("the server has no such")
        True
        >>> permanent_hint(redis.ConnectionError("Connection refused")) is None
        True
    """
    text = str(err)
    if isinstance(err, (redis.AuthenticationError, redis.exceptions.AuthorizationError)):
        return "fix the user and password in the DSN, or the server's requirepass/ACL"
    if isinstance(err, NoPermissionError):
        return "let the DSN's user run the commands and keys Alligator uses (its ACL)"
    if isinstance(err, redis.ResponseError):
        if any(marker in text for marker in _NO_SUCH_DB):
            return (
                "the server has no such database: fix the /DB number of the DSN "
                "(the server's 'databases' setting, 16 by default; Redis Cluster has only db 0)"
            )
        if any(marker in text for marker in _NO_SUCH_COMMAND):
            return "the server lacks a command Alligator needs (an older Redis, or one renamed or disabled)"
    return None
