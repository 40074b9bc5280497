"""The shape of the code (issue 19): no long modules, no import circles, no SQL or Lua in Python strings.

Each rule is checked over every module of the core (``alligator``) and of
each plugin's ``src``, read as text and parsed with :mod:`ast`: nothing is
imported. The import circles are found by ``scripts/import_cycles.py``,
which prints them too: ``python scripts/import_cycles.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    """scripts/import_cycles.py, loaded from its file: ``scripts`` is not a package."""
    path = ROOT / "scripts" / "import_cycles.py"
    spec = importlib.util.spec_from_file_location("import_cycles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_cycles = _load_script()

#: Every package checked, by import name: the core's and each plugin's.
PACKAGES: dict[str, Path] = import_cycles.package_dirs(ROOT)

#: The longest a module may be, in lines.
MAX_LINES = 600


def _sources(package: str) -> list[Path]:
    return sorted(PACKAGES[package].rglob("*.py"))


def test_every_package_is_found() -> None:
    # A layout change that hid a plugin from the checks below would pass them all.
    assert set(PACKAGES) == {
        "alligator",
        "alligator_locmem",
        "alligator_sqlite",
        "alligator_redis",
        "alligator_postgres",
        "alligator_django",
    }
    assert all(_sources(package) for package in PACKAGES)


# -- (a) module length ---------------------------------------------------


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_module_is_over_600_lines(package: str) -> None:
    too_long = []
    for path in _sources(package):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        where = path.relative_to(ROOT).as_posix()
        if lines > MAX_LINES:
            too_long.append(f"{where}: {lines} lines")
    assert not too_long, (
        f"modules over {MAX_LINES} lines; split each into modules named for what they hold:\n"
        + "\n".join(too_long)
    )


# -- (b) import circles --------------------------------------------------


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package: str) -> None:
    cycles = import_cycles.find_cycles(package, PACKAGES[package])
    assert not cycles, "import cycles (see python scripts/import_cycles.py):\n" + "\n".join(
        " -> ".join(chain) for chain in cycles
    )


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    """Writes a package ``pkg`` of ``files`` (path in the package: source) under tmp_path."""
    for name, source in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return tmp_path / "pkg"


def test_the_cycle_finder_follows_every_spelling_of_an_import(tmp_path: Path) -> None:
    directory = _package(
        tmp_path,
        {
            "__init__.py": "from pkg.a import A\n",
            # `from pkg import b` names the module pkg.b.
            "a.py": "from pkg import b\nA = 1\n",
            # A relative import, inside a try: still at import time.
            "b.py": "try:\n    from .sub import c\nexcept ImportError:\n    pass\n",
            "sub/__init__.py": "",
            # `import pkg.a` names pkg.a: the chain closes.
            "sub/c.py": "import pkg.a\n",
        },
    )
    assert import_cycles.find_cycles("pkg", directory) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


def test_the_cycle_finder_counts_a_package_as_its_init(tmp_path: Path) -> None:
    # `from pkg import name` where name is no module imports pkg/__init__.py.
    directory = _package(tmp_path, {"__init__.py": "from pkg.a import A\n", "a.py": "from pkg import B\n"})
    assert import_cycles.find_cycles("pkg", directory) == [["pkg", "pkg.a", "pkg"]]


def test_the_cycle_finder_ignores_what_runs_later(tmp_path: Path) -> None:
    directory = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "import pkg.b\n",
            # Under TYPE_CHECKING, in a function, in a method: not at import time.
            "b.py": """\
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg import a
                def f():
                    from pkg import a
                class C:
                    def m(self):
                        import pkg.a
            """,
        },
    )
    assert import_cycles.find_cycles("pkg", directory) == []


def test_the_cycle_command_reports_none() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/import_cycles.py"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("no import cycles in alligator, "), done.stdout


# -- (c) SQL and Lua in Python strings -----------------------------------

#: Text that is SQL or Lua. Case matters: prose says "select ... from".
CODE_IN_TEXT = [
    re.compile(r"\bSELECT\b[\s\S]*\bFROM\b"),
    re.compile(r"\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b"),
    re.compile(r"\bUPDATE\s+\w+\s+SET\b"),
    re.compile(r"\bDELETE\s+FROM\b"),
    re.compile(r"\b(?:CREATE|ALTER|DROP)\s+(?:TEMP\s+|UNIQUE\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\b"),
    re.compile(r"\bredis\.p?call\s*\("),
    re.compile(r"\blocal\s+function\b"),
    re.compile(r"\b(?:KEYS|ARGV)\[\d+\]"),
]

#: Methods whose first argument is SQL or Lua, whatever it says ("COMMIT").
RUNS_CODE = {"execute", "executemany", "executescript", "eval", "register_script", "script_load"}


def _literal_parts(node: ast.expr) -> list[ast.Constant]:
    """The literal text of an expression written as a string: a literal, an f-string, a sum of them."""
    if isinstance(node, ast.Constant):
        return [node]
    if isinstance(node, ast.JoinedStr):
        return [part for part in node.values if isinstance(part, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return _literal_parts(node.left) + _literal_parts(node.right)
    return []  # a name, a lookup (queries["reserve"]), a call: the text is elsewhere


def code_in_strings(source: str, filename: str) -> list[str]:
    """``file:line: text`` for each string literal of ``source`` that holds SQL or Lua.

    Docstrings and other bare strings (attribute docs) are documentation,
    not code run against a store, and are left out.
    """
    tree = ast.parse(source, filename)
    documentation = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    run: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNS_CODE
            and node.args
        ):
            run.update(id(part) for part in _literal_parts(node.args[0]))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in documentation:
            continue
        if id(node) in run or any(pattern.search(node.value) for pattern in CODE_IN_TEXT):
            found.append(f"{filename}:{node.lineno}: {node.value.strip()[:60]!r}")
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_sql_or_lua_in_python_strings(package: str) -> None:
    found = []
    for path in _sources(package):
        found += code_in_strings(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not found, (
        "SQL or Lua in Python strings; put it in a .sql or .lua file beside the module, "
        "loaded with importlib.resources:\n" + "\n".join(found)
    )


def test_the_string_check_finds_sql_and_lua_and_passes_documentation() -> None:
    source = textwrap.dedent(
        '''\
        """A docstring may show SELECT id FROM tasks."""
        SCRIPT = "return redis.call('GET', KEYS[1])"
        def f(db, queue):
            """Runs DELETE FROM tasks."""
            db.execute("COMMIT")
            db.execute(QUERIES["commit"])
            db.execute(
                f"UPDATE tasks SET due = 0 WHERE queue = {queue}"
            )
            raise ValueError("SELECT is not allowed in cluster mode; select another store from the list")
        '''
    )
    assert code_in_strings(source, "m.py") == [
        "m.py:2: \"return redis.call('GET', KEYS[1])\"",
        "m.py:5: 'COMMIT'",
        "m.py:8: 'UPDATE tasks SET due = 0 WHERE queue ='",
    ]
