"""Set-up of a ``manage.py latergator`` worker process (its ``--setup``): Django before any task.

``manage.py`` sets ``DJANGO_SETTINGS_MODULE``; the worker processes a
supervisor starts inherit it and import this module first.
"""

from __future__ import annotations

import django

django.setup()
