"""Lets ``python -m alligator DSN`` run a worker, as ``latergator DSN`` does."""

import os
import sys

from alligator.cli import main

# ``python -m`` put the working directory first on sys.path. Move it behind
# the installed packages, where latergator puts it, so a module planted there
# cannot stand in for an installed one from here on.
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == os.path.abspath(os.getcwd()):
    sys.path.append(sys.path.pop(0))

sys.exit(main())
