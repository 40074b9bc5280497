"""The type the kit's capability mixins give a backend: the required part and every capability.

A mixin only runs against a backend that claims its capability (see
:mod:`alligator.capabilities`), so its tests may call the capability's
methods; this type lets a type checker see them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator import capabilities
from alligator.backend import Backend

if TYPE_CHECKING:
    from alligator.capabilities import (
        Administration,
        Diagnosis,
        Inspection,
        Pausing,
        ResultListing,
        Results,
        ResultWaiting,
        Waking,
        WorkerRegistry,
    )
    from alligator.limit_store import Limiting
    from alligator.priority_store import TaskPriority
    from alligator.scheduling_store import Scheduling
    from alligator.unique_store import UniqueKeys

    class CapableBackend(
        Backend,
        Results,
        ResultListing,
        ResultWaiting,
        Waking,
        Inspection,
        Administration,
        WorkerRegistry,
        Pausing,
        UniqueKeys,
        Diagnosis,
        Scheduling,
        Limiting,
        TaskPriority,
    ):
        """A backend with every capability (for type checking only)."""

else:
    CapableBackend = Backend


def without(backend_class: type[Backend], *lacking: type) -> type[Backend]:
    """Makes a subclass of ``backend_class`` that lacks the given capabilities.

    For tests of what the core, the command and the dashboard say about a
    store that cannot do something: each method of those capabilities is
    set to None, so :func:`alligator.capabilities.supports` says False.
    """
    names = {name: None for capability in lacking for name in capabilities.methods_of(capability)}
    label = "".join(capability.__name__ for capability in lacking)
    return type(f"{backend_class.__name__}Without{label}", (backend_class,), names)
