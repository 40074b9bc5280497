"""CI installs under pins, and runs every default session: checked here.

A release elsewhere turned CI red once (a newer redis-py made a type-ignore
unused) with nothing in the project changed. The default nox sessions install
under requirements/ci.txt; these tests fail when a dependency is added that the
pins do not cover, or when ci.in changed and ci.txt was not compiled again.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before 3.11
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OURS = {"alligator-core", "alligator-locmem", "alligator-sqlite", "alligator-redis"}


def _name(requirement: str) -> str:
    """The normalized project name of a requirement string ("fakeredis[lua]>=2" -> "fakeredis")."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _lines(path: pathlib.Path) -> list[str]:
    return [
        line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()
    ]


def _pinned() -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for line in _lines(ROOT / "requirements" / "ci.txt"):
        requirement = line.split(";")[0].strip()
        assert "==" in requirement, f"requirements/ci.txt: {line!r} is not an exact pin"
        pins.setdefault(_name(requirement), set()).add(requirement.split("==")[1])
    return pins


def _declared_dependencies() -> set[str]:
    names: set[str] = set()
    for pyproject in [ROOT / "alligator_core" / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")]:
        project = tomllib.loads(pyproject.read_text())["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements.extend(extra)
        names.update(_name(requirement) for requirement in requirements)
    return names - OURS


def _noxfile_test_deps() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TEST_DEPS" for t in node.targets):
            return {_name(ast.literal_eval(element)) for element in node.value.elts}  # type: ignore[attr-defined]
    raise AssertionError("noxfile.py has no TEST_DEPS")


def test_every_dependency_of_our_packages_and_test_tools_is_pinned() -> None:
    pins = _pinned()
    wanted = (
        _declared_dependencies()
        | _noxfile_test_deps()
        | {_name(line) for line in _lines(ROOT / "requirements" / "ci.in")}
    )
    missing = sorted(name for name in wanted if name not in pins)
    assert not missing, (
        f"not pinned in requirements/ci.txt: {missing}; add them to requirements/ci.in and run nox -s lock"
    )


def test_the_pins_were_compiled_from_the_current_inputs() -> None:
    # uv pip compile writes "# via -r requirements/ci.in" under each direct input.
    text = (ROOT / "requirements" / "ci.txt").read_text()
    for line in _lines(ROOT / "requirements" / "ci.in"):
        name = _name(line)
        block = re.search(rf"(?mi)^{'[-_.]'.join(map(re.escape, name.split('-')))}==.*\n(\s+#.*\n)*", text)
        assert block and "requirements/ci.in" in block.group(0), (
            f"{name} is in requirements/ci.in but ci.txt was not compiled from it: run nox -s lock"
        )


def test_every_default_session_installs_under_the_pins() -> None:
    source = (ROOT / "noxfile.py").read_text()
    tree = ast.parse(source)
    unpinned = []
    for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        if function.name in {"_install", "lock", "latest"}:
            continue
        for call in ast.walk(function):
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "session.install":
                unpinned.append(function.name)
    assert not unpinned, f"sessions installing without the pins (use _install): {unpinned}"


def test_the_lanes_run_every_default_session_once() -> None:
    # scripts/nox runs noxfile.LANES at once: a session left out of them would
    # silently stop running in CI; one in two lanes would run twice.
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            values[ast.unparse(node.targets[0])] = node.value
    defaults = ast.literal_eval(values["nox.options.sessions"])  # type: ignore[arg-type]
    lanes = ast.literal_eval(values["LANES"])  # type: ignore[arg-type]
    in_lanes = [session for lane in lanes for session in lane]
    assert sorted(in_lanes) == sorted(defaults), (in_lanes, defaults)
    assert len(lanes) == 3, "README.md and scripts/nox say three lanes"
