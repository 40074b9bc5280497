"""``python -m alligator.command``: the ``alligator`` command without its console script."""

from __future__ import annotations

import sys

from alligator.command import main

if __name__ == "__main__":
    sys.exit(main())
