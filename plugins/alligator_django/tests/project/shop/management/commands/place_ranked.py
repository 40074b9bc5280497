"""`manage.py place_ranked PATH LABEL:PRIORITY...`: orders and their ranked tasks, in one transaction.

For each label it saves an order and enqueues ``record(PATH, label)`` at the
priority given (through Django's connection, with ``DATABASE`` set), prints
``written RESULT_ID`` for each, and commits them all at once.
"""

import sys

from django.core.management.base import BaseCommand
from django.db import transaction

from shop.models import Order
from shop.tasks import record


class Command(BaseCommand):
    help = "Save an order per label and enqueue record(PATH, label) at its priority, in one transaction."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("ranked", nargs="+", metavar="LABEL:PRIORITY")

    def handle(self, *args, **options):
        with transaction.atomic():
            for item in options["ranked"]:
                label, _, priority = item.partition(":")
                Order.objects.create(label=label)
                result = record.using(priority=int(priority)).enqueue(options["path"], label)
                sys.stdout.write(f"written {result.id}\n")
