"""An in-process, thread-safe backend: the reference implementation of the contract.

``Gator("locmem://")`` keeps every queue in a dict of this process; every
backend built from the same DSN in one process shares it (``locmem://`` is
one store, ``locmem://other`` another). Nothing survives the process and
nothing crosses to another one, so it serves
development, tests and single-process scripts. It is also the backend to read
first when writing one of your own: every rule of
:class:`alligator.backend.Backend` is kept here in the plainest way.

It stores ``str`` payloads, so "bytes" mean UTF-8 bytes here: a payload's
size is its length in UTF-8, and one UTF-8 cannot encode (a lone surrogate)
is not valid UTF-8 (every reason's text is in :mod:`alligator.reasons`).
:meth:`~alligator.backend.Backend.push` refuses such a payload with
``ValueError``; one planted in the store by hand (as a test does) is
dead-lettered by :meth:`~alligator.backend.Backend.reserve`, like a
record of bad bytes in any other store. Likewise a task id is measured in
UTF-8 bytes against :attr:`~alligator.backend.Backend.max_task_id_bytes`: one over it
(only a hand-planted one can be) is dead-lettered under its id cut to the
limit, as every backend does (C8).

Results are kept with the ack, under the store's lock, for their
``result_ttl`` on the backend's clock; :meth:`~alligator.capabilities.ResultWaiting.wait_finished`
and :meth:`~alligator.capabilities.Waking.wait_for_work` are woken by a condition the acks,
dead letters, pushes, releases and requeues notify, so neither polls. The
registry of live workers is one per store, bounded by its TTLs and by
:attr:`~alligator.backend.Backend.max_workers`, and so is the set of pauses.
:meth:`~alligator_locmem.backend.LocmemBackend.diagnose` always warns: what
a locmem store holds is gone when its process exits.
"""

from __future__ import annotations

# _Entry: the record of a task, for tests that plant one by hand.
from alligator_locmem.backend import LocmemBackend
from alligator_locmem.required import RequiredLocmem
from alligator_locmem.store import _Entry as _Entry

__all__ = ["LocmemBackend", "RequiredLocmem"]
__version__ = "1.0.0"
