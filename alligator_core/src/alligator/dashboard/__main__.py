"""``python -m alligator.dashboard``: see :func:`alligator.dashboard.server.main`."""

import sys

from alligator.dashboard.server import main

sys.exit(main())
