"""`manage.py place_order LABEL --hold PATH`: saves an order and enqueues its task in one transaction.

It prints ``written RESULT_ID`` once both are written inside the open
transaction (``written RESULT_ID REFRESH_ID`` with ``--refresh ITEM``, which
enqueues the unique task ``refresh(ITEM)`` too: REFRESH_ID is the id its
``enqueue()`` returned, the holder's if the key was held), then waits for
PATH to exist before it commits (a test kills it meanwhile), and prints
``committed`` (or, with ``--roll-back``, raises instead, which rolls the
transaction back).
"""

import os
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from shop.models import Order
from shop.tasks import order_label, refresh


class Command(BaseCommand):
    help = "Save an order and enqueue its task in one transaction, committing once PATH exists."

    def add_arguments(self, parser):
        parser.add_argument("label")
        parser.add_argument("--hold", required=True, metavar="PATH")
        parser.add_argument("--roll-back", action="store_true", help="raise before the commit instead")
        parser.add_argument("--refresh", metavar="ITEM", help="also enqueue the unique task refresh(ITEM)")

    def handle(self, *args, **options):
        with transaction.atomic():
            order = Order.objects.create(label=options["label"])
            ids = [order_label.enqueue(order.pk).id]
            if options["refresh"] is not None:
                ids.append(refresh.enqueue(options["refresh"]).id)
            sys.stdout.write(f"written {' '.join(ids)}\n")
            sys.stdout.flush()
            while not os.path.exists(options["hold"]):
                time.sleep(0.02)
            if options["roll_back"]:
                raise CommandError("rolled back on purpose")
        sys.stdout.write("committed\n")
        sys.stdout.flush()
