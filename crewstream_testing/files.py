"""A lock file beside a cassette, so two processes never write or compare it at once.

pytest-xdist runs tests in several processes; two tests that share a cassette
(``@pytest.mark.crewstream(cassette="shared.jsonl")``) could otherwise both see
it missing and both write it, or one could read it while the other replaces it.
``cassette_lock(path)`` holds an exclusive lock on ``.<name>.lock`` in the
cassette's directory for the time of a write-or-compare. On POSIX it is an
``flock`` (released by the kernel when a process dies, so a killed run never
leaves a lock that blocks the next one); elsewhere an ``O_EXCL`` lock file.
The lock file is removed when released.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from crewstream_testing.errors import CrewstreamError

LOCK_TIMEOUT = 120.0
"""Seconds the ``O_EXCL`` fallback waits for a lock before it gives up (flock waits as long as needed)."""


class CassetteLockError(CrewstreamError):
    """The lock beside a cassette could not be taken."""


def lock_path(path: Path) -> Path:
    """The lock file of cassette ``path``: ``.<name>.lock`` beside it."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def cassette_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of cassette ``path`` (its directory is created)."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        with _exclusive_file(lock):
            yield
        return
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # The previous holder unlinks the file before it unlocks: if the
            # name now points elsewhere (or nowhere), this lock guards nothing.
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


@contextlib.contextmanager
def _exclusive_file(lock: Path) -> Iterator[None]:
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise CassetteLockError(
                    f"could not lock {lock} within {LOCK_TIMEOUT:.0f} s: another run holds it, "
                    "or a killed run left it behind; delete the file if no other test run is going"
                ) from None
            time.sleep(0.01)
    try:
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)
