"""The README's demo leaves nothing behind (issue 9, item 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_demo_succeeds_and_leaves_no_folder_in_the_temporary_directory(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        env=dict(os.environ, TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo succeeded" in done.stdout
    assert list(tmp.iterdir()) == []
