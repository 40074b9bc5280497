"""docs/security.md's threat model names the test behind each row: each must exist.

A row whose test was renamed or removed would claim a proof that no longer
runs; this keeps the table honest.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_threat_model_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    model = text[text.index("## Threat model") :]
    named = re.findall(r"`([\w/]+\.py)::(\w+)`", model)
    assert len(named) > 30, "the threat model names the tests behind its rows"
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / "tests" / path).is_file()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / "tests" / path).read_text(), re.M)
    ]
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
