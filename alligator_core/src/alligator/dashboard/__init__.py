"""A web dashboard of a queue store: queues, tasks, dead letters, workers.

Needs the ``dashboard`` extra (``pip install './alligator_core[dashboard]'`` from a checkout:
Flask, waitress, prometheus_client). Start it with ``alligator dashboard
DSN`` or :func:`serve`; build the WSGI application (to test it, or to mount
it in a server of your own) with :func:`create_app`. See docs/dashboard.md.
"""

from __future__ import annotations

from alligator.dashboard.server import DEFAULT_BIND, TOKEN_ENV, BindRefused, check_bind, serve
from alligator.dashboard.web import create_app

__all__ = ["DEFAULT_BIND", "TOKEN_ENV", "BindRefused", "check_bind", "create_app", "serve"]
