"""The Django app: ``"alligator_django"`` in ``INSTALLED_APPS`` adds ``manage.py latergator``, checks,
and schedules of Django tasks."""

from __future__ import annotations

from django.apps import AppConfig


class AlligatorConfig(AppConfig):
    """Registers the system checks of the Alligator tasks backends, and schedules of Django tasks."""

    name = "alligator_django"
    verbose_name = "Alligator"

    def ready(self) -> None:
        """Registers :func:`alligator_django.checks.check_backends` with ``manage.py check``."""
        # Django registers its check of the TASKS backends (each backend's
        # check(): our DSN and store checks) when django.tasks is imported,
        # which nothing else may have done by the time `manage.py check` runs.
        import django.tasks  # noqa: F401
        from django.core import checks

        from alligator_django import scheduling
        from alligator_django.checks import check_backends

        checks.register(check_backends, "tasks")
        # A Schedule of a Django task enqueues it as .enqueue() does (the runner and its meta).
        scheduling.register()
