"""The ``OPTIONS`` of an :class:`~alligator_django.AlligatorBackend`, read and checked once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from alligator.delivery import DEFAULT_RESULT_TTL

#: The keys OPTIONS may hold; any other is refused (a misspelt key would be ignored).
KNOWN = (
    "DSN",
    "SECRET",
    "RESULT_TTL",
    "RETRIES",
    "RETRY_DELAY",
    "RETRY_BACKOFF",
    "RETRY_MAX_DELAY",
    "TIME_LIMIT",
    "MAX_PAYLOAD_BYTES",
    "ENQUEUE_ON_COMMIT",
    "DATABASE",
    "TASK_MODULES",
    "IS_ASYNC",
)


@dataclass(frozen=True)
class BackendOptions:
    """What a backend's ``OPTIONS`` say.

    Attributes:
        dsn: The store (``"sqlite:///tasks.db"``, ``"redis://host:6379/0"``).
        secret: Alligator's HMAC key(s), or None (``ALLIGATOR_SECRET`` then).
        result_ttl: Seconds a finished task's result is kept.
        task_options: Defaults for every task (retries, backoff, time limit),
            as :meth:`Gator.options <alligator.gator.Gator.options>` names them.
        max_payload_bytes: The largest payload, or None for Alligator's.
        enqueue_on_commit: Send a task enqueued inside ``transaction.atomic()``
            only once the transaction commits (``transaction.on_commit``).
        database: The alias of the Django database the store lives in (the
            same SQLite file or PostgreSQL database): a task enqueued inside
            its ``transaction.atomic()`` is written through its connection,
            in its transaction. None: the store is apart.
        task_modules: Modules the worker may run tasks of, besides each
            installed app's ``tasks`` module.
        is_async: False runs each task in-process at once, as Django's
            ``ImmediateBackend`` does (tests, development).
    """

    dsn: str
    secret: str | list[str] | None = None
    result_ttl: float = DEFAULT_RESULT_TTL
    task_options: dict[str, Any] = field(default_factory=dict)
    max_payload_bytes: int | None = None
    enqueue_on_commit: bool = True
    database: str | None = None
    task_modules: tuple[str, ...] = ()
    is_async: bool = True


def read_options(alias: str, options: dict[str, Any]) -> BackendOptions:
    """Reads a backend's ``OPTIONS``, refusing what is missing or unknown.

    Raises:
        ImproperlyConfigured: No DSN, an unknown key, or a value of the wrong type.
    """
    where = f"TASKS[{alias!r}]['OPTIONS']"
    unknown = sorted(set(options) - set(KNOWN))
    if unknown:
        raise ImproperlyConfigured(f"{where} has unknown keys {unknown}; known: {', '.join(KNOWN)}")
    dsn = options.get("DSN")
    if not isinstance(dsn, str) or not dsn:
        raise ImproperlyConfigured(
            f"{where} needs a 'DSN': the Alligator store, e.g. 'sqlite:////srv/site/tasks.db' "
            "or 'redis://127.0.0.1:6379/0'"
        )
    task_options: dict[str, Any] = {}
    for key, name in (
        ("RETRIES", "retries"),
        ("RETRY_DELAY", "retry_delay"),
        ("RETRY_BACKOFF", "retry_backoff"),
        ("RETRY_MAX_DELAY", "retry_max_delay"),
        ("TIME_LIMIT", "time_limit"),
    ):
        if key in options:
            task_options[name] = options[key]
    modules = options.get("TASK_MODULES", ())
    if isinstance(modules, str) or not all(isinstance(m, str) and m for m in modules):
        raise ImproperlyConfigured(f"{where}['TASK_MODULES'] must be a list of module names, not {modules!r}")
    for key in ("ENQUEUE_ON_COMMIT", "IS_ASYNC"):
        if not isinstance(options.get(key, True), bool):
            raise ImproperlyConfigured(f"{where}[{key!r}] must be True or False, not {options[key]!r}")
    database = options.get("DATABASE")
    if database is not None and (not isinstance(database, str) or not database):
        raise ImproperlyConfigured(
            f"{where}['DATABASE'] must be the alias of a DATABASES entry (e.g. 'default'), not {database!r}"
        )
    return BackendOptions(
        dsn=dsn,
        secret=options.get("SECRET"),
        result_ttl=options.get("RESULT_TTL", DEFAULT_RESULT_TTL),
        task_options=task_options,
        max_payload_bytes=options.get("MAX_PAYLOAD_BYTES"),
        enqueue_on_commit=options.get("ENQUEUE_ON_COMMIT", True),
        database=database,
        task_modules=tuple(modules),
        is_async=options.get("IS_ASYNC", True),
    )
