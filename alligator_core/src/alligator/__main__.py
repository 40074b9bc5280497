"""Lets ``python -m alligator DSN`` run a worker, as ``latergator DSN`` does."""

import sys

from alligator.cli import main

sys.exit(main())
