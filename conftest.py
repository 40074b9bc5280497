"""Set-up shared by every test tree below the repository's root (pytest.ini's rootdir)."""

from __future__ import annotations

import signal

# A shell without job control starts its background jobs with SIGINT ignored
# (CI's lanes are such jobs), and an ignored signal stays ignored in every
# process started below: Python then installs no KeyboardInterrupt handler, so
# a command or worker the tests stop with Ctrl-C (SIGINT) would never hear it.
# Caught here instead, it is reset to the default in each process a test starts.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
