"""Every install command we print or document works from a checkout (issue 17, point 7.1).

The core is not on an index yet, so ``pip install 'alligator-core[dashboard]'``
finds no distribution; the docs and the code's messages give the checkout
form (``pip install './alligator_core[dashboard]'``) instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alligator.registry import extra_hint

CHECKOUT = Path(__file__).resolve().parents[1]
#: An install of the core's distribution by name, with an extra: what no index has.
BROKEN = re.compile(r"pip install\s+['\"]?alligator-core\[")


def _texts() -> list[Path]:
    found = [CHECKOUT / "README.md", *(CHECKOUT / "docs").glob("*.md")]
    for root in (CHECKOUT / "alligator_core", CHECKOUT / "plugins"):
        found += [path for path in root.rglob("*") if path.suffix in (".py", ".md", ".toml", ".html")]
    return found


def test_no_doc_or_message_says_to_install_the_core_from_an_index() -> None:
    offending = [
        f"{path.relative_to(CHECKOUT)}:{number}: {line.strip()}"
        for path in _texts()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if BROKEN.search(line)
    ]
    assert offending == []


@pytest.mark.parametrize("extra", ["dashboard", "metrics"])
def test_the_hint_for_an_extra_is_the_checkout_form(extra: str) -> None:
    assert extra_hint(extra).startswith(f"pip install './alligator_core[{extra}]' (at the top of a checkout")


def test_installing_md_documents_the_git_url_form_for_a_requirements_file() -> None:
    text = (CHECKOUT / "docs" / "installing.md").read_text()
    lines = re.findall(r"^alligator-\S+ @ git\+\S+#subdirectory=(\S+)$", text, re.M)
    assert {"alligator_core", "plugins/alligator_sqlite"} <= set(lines)
    for folder in lines:
        assert (CHECKOUT / folder / "pyproject.toml").exists(), folder
