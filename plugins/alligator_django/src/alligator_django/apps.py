"""The Django app: ``"alligator_django"`` in ``INSTALLED_APPS`` adds ``manage.py latergator``, checks."""

from __future__ import annotations

from django.apps import AppConfig


class AlligatorConfig(AppConfig):
    """Registers the system checks of the Alligator tasks backends."""

    name = "alligator_django"
    verbose_name = "Alligator"

    def ready(self) -> None:
        """Registers :func:`alligator_django.checks.check_backends` with ``manage.py check``."""
        from django.core import checks

        from alligator_django.checks import check_backends

        checks.register(check_backends, "tasks")
