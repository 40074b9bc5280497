"""Sphinx configuration for Alligator's documentation.

Built by ``nox -s docs`` with ``-W -n``: every warning, and every
cross-reference that does not resolve, fails the build.
"""

from __future__ import annotations

import alligator

project = "Alligator"
author = "The Alligator developers"
copyright = "2015, Daniel Lindsley; the Alligator developers"
release = alligator.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
# No intersphinx: the docs must build without a network.

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "requirements.txt"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Google-style docstrings only (STYLE.md, point 11).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}
# A backend's methods keep the rules written on alligator.backend.Backend;
# repeating that text on every plugin's page would only blur which class
# states the contract.
autodoc_inherit_docstrings = False

# Without intersphinx, the standard library's classes have no page to link
# to; nitpicky mode would report each one. Builtins resolve on their own.
nitpick_ignore_regex = [
    (r"py:.*", r"(collections(\.abc)?|typing|types|datetime|argparse|abc|threading|logging|enum)\..*"),
    (r"py:.*", r"sqlite3\..*"),
    (r"py:.*", r"(Callable|Sequence|Iterable|Any|ModuleType|FrameType|TracebackType)"),
    # Third-party libraries a plugin wraps are in the same position.
    (r"py:.*", r"redis(\..*)?"),
    (r"py:.*", r"psycopg(\..*)?"),
    # The test kit's pages show its bases from pytest and hypothesis.
    (r"py:.*", r"(pytest|hypothesis)(\..*)?"),
]

html_theme = "furo"
html_title = f"Alligator {release}"
