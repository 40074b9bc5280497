"""What the producer accepts: a task is refused when it is created, never found broken in a worker.

Each test names the finding of issue 8 it proves.
"""

from __future__ import annotations

import uuid

import pytest

from alligator import Gator
from alligator.security import DEFAULT_MAX_PAYLOAD_BYTES


def _dsn() -> str:
    return f"locmem://{uuid.uuid4().hex}"


# -- finding 13: no password in a Gator's repr --------------------------------


@pytest.mark.parametrize(
    "dsn",
    ["locmem://user:hunter2-secret@host/x", "locmem://host/x?password=hunter2-secret&db=1"],
)
def test_repr_of_a_gator_never_shows_a_password(dsn: str) -> None:
    text = repr(Gator(dsn))
    assert "hunter2-secret" not in text
    assert "***" in text


def test_the_gator_gives_its_payload_limit_to_its_backend() -> None:
    gator = Gator(_dsn(), max_payload_bytes=4096)
    assert gator.backend.max_payload_bytes == 4096
    assert Gator(_dsn()).backend.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES
