"""The supervisor's bare interpreter imports nothing but the standard library and its own package.

``latergator --processes`` execs ``python -I -S alligator/supervisor/__main__.py``
(see :mod:`alligator.supervisor`); this runs that file the same way, lets it
supervise one child that refuses its arguments, and lists what was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import alligator.supervisor

PROBE = """\
import json, runpy, sys
sys.argv = ["supervisor", "--processes", "1", "--"]
try:
    runpy.run_path(sys.argv_path, run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules),
                  "alligator": getattr(sys.modules.get("alligator"), "__file__", None)}))
"""


def test_the_bare_supervisor_imports_only_the_standard_library() -> None:
    main = os.path.join(os.path.dirname(alligator.supervisor.__file__), "__main__.py")
    probe = PROBE.replace("sys.argv_path", repr(main))
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The child (``python -m alligator`` with no DSN) refused its arguments: status 2.
    assert report["code"] == 2, done.stderr
    # The empty stand-in, not the package whose __init__ imports the store and the tasks' code.
    assert report["alligator"] is None
    ours = {m for m in report["modules"] if m.split(".")[0] in {"alligator", "_alligator_logs"}}
    assert ours <= {
        "alligator",
        "_alligator_logs",
        "alligator.supervisor",
        *(
            f"alligator.supervisor.{name}"
            for name in ("children", "command", "loop", "metricsdir", "processes", "protocol", "settle")
        ),
    }, ours
    others = {m.split(".")[0] for m in report["modules"]} - {"alligator", "_alligator_logs", "__main__"}
    assert others <= set(sys.stdlib_module_names) | set(sys.builtin_module_names), others - set(
        sys.stdlib_module_names
    )
