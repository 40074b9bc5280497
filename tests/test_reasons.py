"""Every reason a store gives for a record it will not hand out is written once, in :mod:`alligator.reasons`.

Issue 19 measured "payload is N bytes, over the limit of M" in five places
(locmem, the kit's reference backend, Redis Lua, SQLite, the kit). Each text
now lives in one core module: Python stores format it from there, the Redis
scripts get the templates when they are loaded. The proof greps every source
file the packages ship (Python, Lua, SQL) for each text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alligator import reasons

ROOT = Path(__file__).resolve().parents[1]
#: Every package's sources: the core (with its kit) and each plugin.
SOURCES = [ROOT / "alligator_core" / "src", *sorted((ROOT / "plugins").glob("*/src"))]
SUFFIXES = {".py", ".lua", ".sql"}


def _fragments() -> list[str]:
    """Each template's words as a store would write them: its longest fixed part, for each subject."""
    found = set()
    for template in reasons.TEMPLATES:
        for subject in (reasons.PAYLOAD, reasons.TASK_ID, reasons.RESULT):
            text = template.replace("%s", subject, 1) if template.startswith("%s") else template
            found.add(max(re.split(r"%[ds]", text), key=len))
    return sorted(found)


def _source_files() -> list[Path]:
    return sorted(
        path
        for root in SOURCES
        for path in root.rglob("*")
        if path.suffix in SUFFIXES and "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("fragment", _fragments())
def test_no_source_file_but_the_core_s_reasons_writes_a_reason_text(fragment: str) -> None:
    holders = [
        path.relative_to(ROOT).as_posix()
        for path in _source_files()
        if fragment in path.read_text(encoding="utf-8") and path.name != "reasons.py"
    ]
    assert holders == [], f"{fragment!r} is written in {holders}; format alligator.reasons' template instead"


def test_the_proof_would_have_found_the_copies_issue_19_measured() -> None:
    fragments = _fragments()
    copies = [
        "return f'payload is {size} bytes, over the limit of {max_bytes}'",
        "return false, 'payload is ' .. int(size) .. ' bytes, over the limit of ' .. int(max)",
        'raise Unreadable("payload is not valid UTF-8") from None',
        "return false, 'record is corrupt: ' .. what .. ' is ' .. shown(value)",
        'reason = "result is not valid UTF-8"',
        "if not utf8(id) then return false, 'task id is not valid UTF-8' end",
    ]
    for copy in copies:
        assert any(fragment in copy for fragment in fragments), copy


def test_the_proof_reads_every_package_and_its_lua_and_sql() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in _source_files()}
    assert "alligator_core/src/alligator/testing/contract.py" in files
    assert "plugins/alligator_locmem/src/alligator_locmem/__init__.py" in files
    assert any(name.endswith(".lua") for name in files)
    assert any(name.endswith(".sql") for name in files)
    assert "alligator_core/src/alligator/reasons.py" in files


def test_the_texts_read_as_before() -> None:
    assert reasons.too_large(reasons.PAYLOAD, 12, 10) == "payload is 12 bytes, over the limit of 10"
    assert reasons.too_large(reasons.TASK_ID, 9, 8) == "task id is 9 bytes, over the limit of 8"
    assert reasons.too_large(reasons.RESULT, 62, 40) == "result is 62 bytes, over the limit of 40"
    assert reasons.not_utf8(reasons.PAYLOAD) == "payload is not valid UTF-8"
    assert reasons.not_utf8(reasons.TASK_ID) == "task id is not valid UTF-8"
    assert reasons.not_utf8(reasons.RESULT) == "result is not valid UTF-8"
    assert reasons.corrupt("due", "'abc'") == "record is corrupt: due is 'abc'"


def test_decode_measures_before_it_reads() -> None:
    # Bytes left unread for their size are never needed: the size decides first.
    with pytest.raises(reasons.Unreadable, match=r"^payload is 11 bytes, over the limit of 10$"):
        reasons.decode(reasons.PAYLOAD, 11, None, 10)
    with pytest.raises(reasons.Unreadable, match=r"^result is 3 bytes, over the limit of 2$"):
        reasons.decode(reasons.RESULT, 3, b"\xff\xfe\xfd", 2)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"ok\xc3",  # cut in a sequence
        b"\xc0\xaf",  # overlong
        b"\xed\xa0\x80",  # a surrogate's bytes
        b"\xf4\x90\x80\x80",  # past U+10FFFF
    ],
)
def test_decode_is_strict_utf8(raw: bytes) -> None:
    with pytest.raises(reasons.Unreadable, match=r"^task id is not valid UTF-8$"):
        reasons.decode(reasons.TASK_ID, len(raw), raw, 100)


def test_decode_hands_out_valid_text_within_the_limit() -> None:
    text = "é\x00\U0001f40a"
    raw = text.encode("utf-8")
    assert reasons.decode(reasons.PAYLOAD, len(raw), raw, len(raw)) == text
    assert reasons.decode(reasons.PAYLOAD, 0, b"", 0) == ""
    assert reasons.decode(reasons.RESULT, len(raw), raw, None) == text


def test_unreadable_is_a_value_error_whose_message_is_the_reason() -> None:
    err = reasons.Unreadable(reasons.not_utf8(reasons.PAYLOAD))
    assert isinstance(err, ValueError) and str(err) == "payload is not valid UTF-8"
