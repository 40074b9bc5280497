"""The project's one Gator: imported where tasks are queued and where they run."""

from alligator import Gator
from django.conf import settings

gator = Gator(settings.ALLIGATOR_DSN, allow=["sosocial"])
