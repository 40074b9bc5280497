"""The tutorial's Django code is this example's code, word for word."""

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TUTORIAL = PROJECT.parents[1] / "docs" / "tutorial.md"

# A block whose first line is exactly "# <path of a file of the example>".
BLOCK = re.compile(r"```python\n# ((?:sosocial|mysite|tests)/[\w/]+\.py)\n(.*?)```", re.S)


def test_every_file_block_of_the_tutorial_is_in_the_example():
    blocks = BLOCK.findall(TUTORIAL.read_text())
    assert {path for path, _ in blocks} >= {
        "sosocial/tasks.py",
        "sosocial/views.py",
        "sosocial/queue.py",
        "sosocial/worker_setup.py",
        "tests/test_views.py",
    }
    for path, body in blocks:
        assert body.strip() in (PROJECT / path).read_text(), f"docs/tutorial.md's {path} is not the example's"


def test_the_tutorials_worker_command_is_the_one_the_example_runs():
    assert (
        "latergator sqlite:////srv/mysite/tasks.db --allow sosocial --setup sosocial.worker_setup"
        in TUTORIAL.read_text()
    )
    assert (
        '"--allow", "sosocial", "--setup", "sosocial.worker_setup"'
        in (PROJECT / "tests/test_worker.py").read_text()
    )
