"""The Lua files and their loader: scripts resolve, carry the helpers they call; bad files fail."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from alligator import reasons
from alligator_redis import limits, pauses, scheduling, scripts, unique

ALL = (
    *scripts.SCRIPTS,
    *scripts.WORKER_SCRIPTS,
    pauses.SET_PAUSED,
    pauses.PAUSED,
    unique.UNIQUE_PUSH,
    unique.HELD_KEYS,
    scheduling.PUSH_TICK,
    scheduling.SCHEDULE_TICKS,
    *limits.LIMIT_SCRIPTS,
)

#: The Lua functions a script may call without defining them (Redis's Lua 5.1).
BUILTINS = {"error", "ipairs", "pairs", "tonumber", "tostring", "type", "unpack", "select", "pcall", "assert"}
KEYWORDS = {"function", "if", "elseif", "and", "or", "not", "return", "in", "while", "until"}
CALL = re.compile(r"(?<![\w.:'])([A-Za-z_]\w*)\s*\(")
DEFINITION = re.compile(r"^\s*local (?:function )?(\w+)")


def _code(line: str) -> str:
    """The line without its comment and its quoted strings (a call inside a string is no call)."""
    line = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", line)
    return line.split("--", 1)[0]


@pytest.mark.parametrize("script", ALL, ids=lambda script: script.name)
def test_every_script_resolves_its_includes_keys_and_placeholders(script: scripts.Script) -> None:
    first = script.source.split("\n", 1)[0]
    assert first.startswith("local ") and "KEYS[1]" in first, "the keys are bound first"
    assert not re.search(r"^-- include:", script.source, re.M)
    assert not re.search(r"__[A-Z][A-Z0-9_]*__", script.source)


def test_the_reason_texts_come_from_the_core_as_lua_strings() -> None:
    # The words are alligator.reasons'; the scripts only format them.
    for script in (scripts.RESERVE, scripts.GET):
        for name in ("TOO_LARGE", "NOT_UTF8", "CORRUPT", "PAYLOAD", "TASK_ID"):
            assert scripts.lua_string(reasons.LUA_TEMPLATES[name]) in script.source, (script.name, name)
    assert scripts.lua_string(reasons.TOO_LARGE) in scripts.FINISHED.source
    assert scripts.lua_string("it's a \\ test") == "'it\\'s a \\\\ test'"
    for bad in ("tab\there", "é", "line\n"):
        with pytest.raises(ValueError, match="printable ASCII"):
            scripts.lua_string(bad)


def test_a_placeholder_may_hold_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    _files(monkeypatch, {"s.lua": "-- KEYS: wake\nreturn __NOT_UTF8__\n"})
    assert scripts.Script("s").source.endswith(f"return {scripts.lua_string(reasons.NOT_UTF8)}\n")


@pytest.mark.parametrize("script", ALL, ids=lambda script: script.name)
def test_every_function_a_script_calls_is_defined_before_the_call(script: scripts.Script) -> None:
    defined: set[str] = set()
    for number, line in enumerate(script.source.splitlines(), 1):
        code = _code(line)
        for name in CALL.findall(re.sub(r"function \w+", "function", code)):
            if name not in BUILTINS | KEYWORDS:
                assert name in defined, (
                    f"{script.name}: line {number} calls {name} before its definition: {line}"
                )
        start = DEFINITION.match(code)
        if start:
            defined.add(start.group(1))


def test_every_lua_file_is_a_script_or_included_by_one() -> None:
    files = {entry.name for entry in resources.files("alligator_redis").joinpath("lua").iterdir()}
    used = {f"{script.name}.lua" for script in ALL}
    for script in ALL:
        text = resources.files("alligator_redis").joinpath("lua").joinpath(f"{script.name}.lua").read_text()
        used |= set(re.findall(r"^-- include: (\S+)$", text, re.M))
    helpers = {name for name in files if name not in used}
    assert not helpers, f"Lua files nothing loads: {sorted(helpers)}"
    for name in files - {f"{script.name}.lua" for script in ALL}:
        used |= set(re.findall(r"^-- include: (\S+)$", scripts._read(name), re.M))
    assert used <= files


def _files(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
    def read(file: str) -> str:
        if file not in files:
            raise ValueError(f"no Lua file {file!r} in alligator_redis/lua")
        return files[file]

    monkeypatch.setattr(scripts, "_read", read)


def test_an_include_is_resolved_once_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    _files(
        monkeypatch,
        {
            "s.lua": "-- KEYS: wake\n-- include: b.lua\n-- include: a.lua\nreturn f(g())\n",
            "a.lua": "local function f(x) return x end\n",
            "b.lua": "-- include: a.lua\nlocal function g() return __WAKE_CAP__ end\n",
        },
    )
    script = scripts.Script("s")
    assert script.keys == ("wake",)
    body = script.source.split("\n", 1)[1]
    assert body == (
        "-- KEYS: wake\nlocal function f(x) return x end\n"
        f"local function g() return {scripts.WAKE_CAP} end\n\nreturn f(g())\n"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"s.lua": "-- KEYS: wake\nreturn __NO_SUCH__\n"}, "unknown placeholder __NO_SUCH__"),
        ({"s.lua": "-- KEYS: wake\n-- include: gone.lua\n"}, "no Lua file 'gone.lua'"),
        ({"s.lua": "return 1\n"}, "exactly one '-- KEYS:' line"),
        ({"s.lua": "-- KEYS: wake nowhere\nreturn 1\n"}, "unknown keys ['nowhere']"),
    ],
)
def test_a_bad_script_file_fails_when_read(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, str], message: str
) -> None:
    _files(monkeypatch, files)
    with pytest.raises(ValueError, match=re.escape(message)):
        _ = scripts.Script("s").source
