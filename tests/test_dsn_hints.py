"""A mistyped DSN gets a suggestion, and nothing but our own error is printed (issue 9, item 5)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alligator import Gator
from alligator.exceptions import InvalidDSNError, UnknownBackendError
from alligator.registry import install_hint, suggest_scheme


@pytest.mark.parametrize(
    ("typed", "meant"), [("sqlit", "sqlite"), ("SQLITE3", "sqlite"), ("redsi", "redis"), ("locmen", "locmem")]
)
def test_a_near_miss_scheme_is_suggested(typed: str, meant: str) -> None:
    assert suggest_scheme(typed) == meant
    with pytest.raises(UnknownBackendError, match=f"did you mean '{meant}'"):
        Gator(f"{typed}:///t.db")


def test_a_scheme_far_from_every_known_one_gets_no_guess() -> None:
    # A scheme no plugin of ours serves (postgresql is one now, installed or not).
    assert suggest_scheme("mongodb") is None
    with pytest.raises(UnknownBackendError) as info:
        Gator("mongodb://db/x")
    assert "did you mean" not in str(info.value)


def test_a_scheme_without_its_slashes_is_pointed_at_the_right_form() -> None:
    with pytest.raises(InvalidDSNError, match=r"did you mean sqlite://\.\.\.\?"):
        Gator("sqlite:tasks.db")
    with pytest.raises(InvalidDSNError, match=r"did you mean redis://"):
        Gator("redis:/localhost")


def test_the_install_hint_works_for_published_packages_and_from_a_checkout() -> None:
    hint = install_hint("alligator-redis")
    assert hint.startswith("pip install alligator-redis")
    assert "from a checkout of Alligator: pip install ./plugins/alligator_redis" in hint


def test_the_unknown_scheme_error_is_the_only_line_printed() -> None:
    # stevedore used to log "WARNING stevedore.named: Could not load <scheme>"
    # before latergator's own error.
    for dsn in ["nosuchbackend://x", "sqlit:///t.db"]:
        done = subprocess.run(
            [sys.executable, "-m", "alligator", dsn, "--allow", "sample_tasks"],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        )
        assert done.returncode == 2
        assert "stevedore" not in done.stderr
        assert "Could not load" not in done.stderr
        assert done.stderr.startswith("latergator: error: no Alligator backend handles the scheme")
        assert done.stderr.count("\n") == 1, done.stderr


def test_a_malformed_host_still_reaches_the_backend_for_its_own_error() -> None:
    from alligator.registry import scheme_of

    # urlsplit raised a raw ValueError ("Invalid IPv6 URL") here before.
    assert scheme_of("redis://:pw@[::1:6379/7") == "redis"


def test_a_string_that_is_not_a_dsn_never_shows_a_password() -> None:
    from alligator.exceptions import InvalidDSNError

    with pytest.raises(InvalidDSNError) as refused:
        Gator("redis:/:s3cretpw@cache")
    assert "s3cretpw" not in str(refused.value)


def test_a_postgresql_dsn_without_the_plugin_names_the_distribution() -> None:
    from alligator import registry

    assert registry.KNOWN_DISTRIBUTIONS["postgresql"] == registry.KNOWN_DISTRIBUTIONS["postgres"]
    assert install_hint("alligator-postgres").count("alligator-postgres") >= 1
