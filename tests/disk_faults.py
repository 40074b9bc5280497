"""Real disk faults for tests: a small tmpfs that can be filled, files made immutable.

Tests run as root, and root ignores a file's mode bits (``chmod 444`` does not
stop it writing), so a read-only store is made with ``chattr +i`` (the kernel
refuses every write, root's too) and a full disk with a tmpfs of a few MiB
mounted for the test and filled. Both need root (CAP_SYS_ADMIN and
CAP_LINUX_IMMUTABLE); without them the test is skipped on a laptop and fails
under ``CI=true``, like every test that needs a service.

Imported by name (``pytest.ini`` puts this folder on the tests' path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: the disk fault tests must run in CI (as root)")
    pytest.skip(reason)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """Mounts a tmpfs of ``size`` at ``where`` (created) for the block, then unmounts it.

    Raises:
        pytest.skip.Exception: Mounting is not allowed here (not under CI).
    """
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        _unavailable("no mount command to make a small file system")
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(where))
    if mounted.returncode != 0:
        _unavailable(f"cannot mount a tmpfs ({mounted.stderr.strip()})")
    try:
        yield where
    finally:
        # Lazily, so a process a failed test left running cannot keep it mounted.
        _run("umount", "-l", str(where))


def fill(directory: Path) -> None:
    """Writes a file in ``directory`` until its file system has no byte left."""
    chunk = b"\0" * 65536
    with open(directory / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass
        try:
            while True:
                out.write(b"\0")  # the last partial block
        except OSError:
            pass
    stats = os.statvfs(directory)
    assert stats.f_bavail == 0, f"{directory} still has {stats.f_bavail} free blocks"


@contextmanager
def immutable(paths: Sequence[Path]) -> Iterator[None]:
    """Makes files immutable (``chattr +i``: not even root may write them) for the block.

    Raises:
        pytest.skip.Exception: The file system or the user cannot (not under CI).
    """
    if shutil.which("chattr") is None:
        _unavailable("no chattr command to make a file read-only for root")
    done: list[Path] = []
    try:
        for path in paths:
            made = _run("chattr", "+i", str(path))
            if made.returncode != 0:
                _unavailable(f"cannot make {path} immutable ({made.stderr.strip()})")
            done.append(path)
        yield
    finally:
        for path in done:
            _run("chattr", "-i", str(path))
