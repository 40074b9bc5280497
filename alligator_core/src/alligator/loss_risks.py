"""Settings of a store that lose tasks it accepted: the producer's refusal, and loud warnings.

A store can accept a task and lose it later: Redis with an ``allkeys-*``
``maxmemory-policy`` evicts queued tasks when its memory is full (the enqueue
succeeded, the task never runs), and Redis without persistence loses every
queued task when it restarts. :meth:`Backend.task_loss_risks
<alligator.capabilities.Diagnosis.task_loss_risks>` finds them in one quick look.

- A producer (:class:`~alligator.gator.Gator`) looks once per store and
  process, before its first task, never again (no round trip per task). It
  refuses to enqueue on a store that evicts
  (:class:`~alligator.exceptions.EvictingStoreError`, nothing is queued)
  unless it was built with ``allow_eviction=True``, and warns once per store
  of what it accepts: :class:`~alligator.exceptions.TaskLossWarning`
  (eviction allowed) or :class:`~alligator.exceptions.NoPersistenceWarning`,
  and a logged WARNING.
- A worker looks as it starts: its start line says the store may lose tasks,
  and a WARNING says what and what to do.

``alligator doctor`` reports the same settings, and more, as errors.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings

from alligator import store_defaults
from alligator.backend import Backend
from alligator.exceptions import EvictingStoreError, NoPersistenceWarning, TaskLossWarning

log = logging.getLogger("alligator.store")

#: The store may drop queued tasks to make room.
EVICTION = "eviction"
#: A restart of the store loses every queued task.
NO_PERSISTENCE = "no-persistence"

#: What to do about each kind of risk.
WHAT_TO_DO = {
    EVICTION: "set maxmemory-policy noeviction (a full Redis then refuses new tasks and producers see "
    "the error), and give it enough memory",
    NO_PERSISTENCE: "turn on persistence (Redis: appendonly yes) so queued tasks survive a restart",
}

_lock = threading.Lock()
#: The risks found, per store (its description), for this process.
_found: dict[str, list[tuple[str, str]]] = {}
#: The (store, kind) pairs already warned of.
_warned: set[tuple[str, str]] = set()
#: Counts the calls of :func:`forget`: what a producer learnt from
#: :func:`check_enqueue` holds until it changes.
_generation = 0


def risks_of(backend: Backend) -> list[tuple[str, str]]:
    """The store's risks, asked of it once per process and remembered.

    A store that cannot be reached now is asked again next time (its own
    operation fails with its own error meanwhile); one that keeps no such
    settings (``NotImplementedError``) has none.

    Returns:
        ``(kind, problem)`` pairs; see :meth:`Backend.task_loss_risks
        <alligator.capabilities.Diagnosis.task_loss_risks>`.
    """
    return _risks(backend)[0]


def _risks(backend: Backend) -> tuple[list[tuple[str, str]], bool]:
    """The store's risks, and whether they are known (False: it could not be asked now)."""
    store = backend.describe()
    with _lock:
        if store in _found:
            return _found[store], True
        try:
            found = store_defaults.task_loss_risks(backend)
        except NotImplementedError:
            found = []
        except Exception as err:
            log.debug("could not read the settings of %s: %s", store, err)
            return [], False
        _found[store] = found
        return found, True


def generation() -> int:
    """How many times :func:`forget` was called in this process.

    A producer that :func:`check_enqueue` let through may skip the check
    while this stays the same (see :meth:`Gator.push <alligator.gator.Gator.push>`).
    """
    return _generation


def forget() -> None:
    """Forgets every store's risks and warnings, so the next look asks the store again.

    For tests, and for a long-running process told that a store's settings changed.
    """
    global _generation
    with _lock:
        _found.clear()
        _warned.clear()
        _generation += 1


def check_enqueue(backend: Backend, allow_eviction: bool) -> bool:
    """Refuses to enqueue on a store that evicts, unless allowed; warns once per store of the rest.

    Args:
        backend: The producer's store.
        allow_eviction: The producer accepts that the store may evict queued tasks.

    Returns:
        True when the store's risks are known and every warning was given:
        until :func:`generation` changes, checking again with the same
        arguments would do nothing. False when the store could not be
        asked now (it is asked again next time).

    Raises:
        EvictingStoreError: The store evicts and ``allow_eviction`` is False.
    """
    risks, known = _risks(backend)
    if not allow_eviction:
        for kind, problem in risks:
            if kind == EVICTION:
                raise EvictingStoreError(
                    f"{problem}; nothing was queued. Either {WHAT_TO_DO[EVICTION]}, or, if losing tasks "
                    "is acceptable, build the gator with Gator(..., allow_eviction=True)"
                )
    for kind, problem in risks:
        _warn_once(backend.describe(), kind, problem)
    return known


def worker_notices(backend: Backend) -> list[str]:
    """What a worker says at start about the store's risks: each problem with what to do.

    Never raises: a store that cannot be read now is the worker's loop's business.
    """
    try:
        return [f"{problem}: {_what_to_do(kind)}" for kind, problem in risks_of(backend)]
    except Exception:  # a hostile or broken backend must not stop a worker from starting
        return []


def _warn_once(store: str, kind: str, problem: str) -> None:
    with _lock:
        if (store, kind) in _warned:
            return
        _warned.add((store, kind))
    text = f"{problem}: {_what_to_do(kind)} (alligator doctor DSN checks the store)"
    log.warning("%s", text)
    category = NoPersistenceWarning if kind == NO_PERSISTENCE else TaskLossWarning
    warnings.warn(text, category, stacklevel=_callers_level())


def _callers_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside Alligator's packages."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith("alligator"):
        frame, level = frame.f_back, level + 1
    return level


def _what_to_do(kind: str) -> str:
    return WHAT_TO_DO.get(kind, "see alligator doctor DSN")
