"""``python -m alligator.supervisor``, and the file the bare supervisor interpreter runs.

``latergator --processes N`` replaces itself with ``python -I -S`` running
this file: no ``site``, no installed packages, so it cannot import the
``alligator`` package (whose ``__init__`` imports far more than the
supervisor needs). Run as a file, it loads this directory as the package
``alligator.supervisor`` by itself, under an empty stand-in for
``alligator``; every module the loop needs imports only the standard library
and its siblings (``tests/reliability/test_supervisor_bare.py`` checks it).
"""

import os
import sys

if not __package__:  # run as a file by the bare interpreter
    import importlib.util
    import types

    _here = os.path.dirname(os.path.abspath(__file__))
    # An empty stand-in for the alligator package, whose __init__ is never
    # run here: its submodules are found in its directory all the same.
    _top = types.ModuleType("alligator")
    _top.__path__ = [os.path.dirname(_here)]
    sys.modules["alligator"] = _top
    _spec = importlib.util.spec_from_file_location(
        "alligator.supervisor", os.path.join(_here, "__init__.py"), submodule_search_locations=[_here]
    )
    assert _spec is not None and _spec.loader is not None
    _package = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = _package
    _spec.loader.exec_module(_package)

from alligator.supervisor.command import main

sys.exit(main())
