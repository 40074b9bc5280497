"""Set-up of a ``manage.py latergator`` worker process (its ``--setup``): Django before any task.

``manage.py`` sets ``DJANGO_SETTINGS_MODULE``; the worker processes a
supervisor starts inherit it and import this module first.
"""

from __future__ import annotations

import logging

import django
from django.conf import settings

django.setup()

if not settings.LOGGING:
    # Django's default logging prints django.* records (each task's state
    # from django.tasks) on the console when DEBUG is on, and they also reach
    # latergator's own handler: one line each is enough. A project that
    # configures LOGGING itself keeps what it configured.
    _django = logging.getLogger("django")
    _django.handlers = [handler for handler in _django.handlers if handler.get_name() != "console"]
