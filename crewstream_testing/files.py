"""Cassette files on disk: atomic writes, the lock beside a cassette, discovery of cassettes.

``atomic_write`` replaces a file through a flushed temporary in the same
directory, so a reader (or a killed run) never sees half a cassette.
``cassette_files`` lists the cassettes below the paths a command was given.

A lock file beside a cassette, so two processes never write or compare it at once.

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
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from crewstream_testing.errors import CassetteLockError, CrewstreamUsageError

__all__ = [
    "CASSETTE_SUFFIX",
    "LOCK_TIMEOUT",
    "TEMPORARY_PREFIX",
    "CassetteLockError",
    "atomic_write",
    "cassette_files",
    "cassette_lock",
    "cassette_path",
    "lock_path",
    "safe_name",
]

CASSETTE_SUFFIX = ".jsonl"
TEMPORARY_PREFIX = ".crewstream-tmp-"
"""Prefix of ``atomic_write``'s temporary files; one left behind means a write was killed."""

LOCK_TIMEOUT = 120.0
"""Seconds the ``O_EXCL`` fallback waits for a lock before it gives up (flock waits as long as needed)."""


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


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def safe_name(name: str, limit: int = 120) -> str:
    """A filesystem-safe file name for a test name (parametrized ids included)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    if len(cleaned) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[: limit - 11]}-{digest}"
    return cleaned


def cassette_path(
    test_file: Path, test_name: str, *, cassette: str | None, cassette_dir: Path | None
) -> Path:
    """Where a test's cassette lives.

    Default: ``<test file dir>/cassettes/<test module>/<test name>.jsonl``. With
    ``crewstream_cassette_dir`` set, that directory replaces ``<test file dir>/cassettes``.
    A marker's relative ``cassette=`` is resolved against the same base directory.
    """
    base = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
    if cassette:
        path = Path(cassette)
        return path if path.is_absolute() else base / path
    return base / test_file.stem / f"{safe_name(test_name)}{CASSETTE_SUFFIX}"


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same directory.

    The temporary file is flushed and fsynced, then renamed over ``target``
    (atomic on POSIX and Windows): readers see the old file or the new one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMPORARY_PREFIX, suffix=".part")
    try:
        # mkstemp makes the file 0600; a cassette keeps the mode it had, or
        # gets the one open() would give it (0666 less the umask).
        os.fchmod(fd, _file_mode(target))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _file_mode(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def cassette_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    suffixes: Sequence[str] = (CASSETTE_SUFFIX,),
    must_exist: bool = False,
) -> list[Path]:
    """The files named by ``paths``: a file as given, every file below a directory whose suffix is in ``suffixes``.

    A directory's files come sorted, hidden ones (lock files, interrupted
    writes) left out. A path that does not exist is returned as given (the
    caller reports it when it reads it), or with ``must_exist`` refused with
    ``CrewstreamUsageError``.
    """
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.suffix in suffixes and p.is_file() and not p.name.startswith(".")
                )
            )
        elif must_exist and not path.is_file():
            raise CrewstreamUsageError(
                f"{str(path)!r} does not exist; pass cassettes, frame files or directories"
            )
        else:
            found.append(path)
    return found
