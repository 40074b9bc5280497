"""Alligator as the backend of Django's tasks framework (``django.tasks``).

Name :class:`AlligatorBackend` in the ``TASKS`` setting, add
``"alligator_django"`` to ``INSTALLED_APPS``, and run the worker with
``python manage.py latergator``. See ``docs/django.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from alligator_django.backend import AlligatorBackend, AlligatorTask

__all__ = ["AlligatorBackend", "AlligatorTask"]


def __getattr__(name: str) -> Any:
    # Imported on first use: Django imports this package while it loads its
    # apps (INSTALLED_APPS), before django.tasks may be configured.
    if name in __all__:
        from alligator_django import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'alligator_django' has no attribute {name!r}")
