"""The project's one Gator: imported where tasks are queued and where they run."""

from django.conf import settings

from alligator import Gator

gator = Gator(settings.ALLIGATOR_DSN, allow=["sosocial"])
