"""Cassette files on disk: confined paths, atomic writes, the lock beside a cassette, discovery.

``cassette_path`` says where a test's cassette lives and ``confine`` keeps it
inside rootdir (or a directory the ini key ``crewstream_allowed_cassette_dirs``
allows). ``atomic_write`` replaces a regular file through a flushed temporary in
the same directory, so a reader (or a killed run) never sees half a cassette;
it never replaces a device, a FIFO, a directory or a symlink. ``cassette_files``
lists the cassettes below the paths a command was given.

A lock file beside a cassette, so two processes never write or compare it at once.

pytest-xdist runs tests in several processes; two tests that share a cassette
(``@pytest.mark.crewstream(cassette="shared.jsonl")``) could otherwise both see
it missing and both write it, or one could read it while the other replaces it.
``cassette_lock(path)`` holds an exclusive lock on a short hashed file name in
the cassette's directory (``.crewstream-<hash>.lock``, so a legal 255-byte
cassette name still has one) for the time of a write-or-compare. On POSIX it
is an ``flock`` (released by the kernel when a process dies, so a killed run
never leaves a lock that blocks the next one); elsewhere an ``O_EXCL`` lock
file. The lock file is opened with ``O_NOFOLLOW`` (a planted symlink is
refused), holds the holder's pid for the timeout message, and is removed when
released. Where the directory cannot be written (a read-only checkout), no lock
is taken: nothing there can be written by this run either, and replay only reads.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from crewstream_testing.errors import CassetteLockError, CrewstreamUsageError

__all__ = [
    "ALLOW_DIRS_KEY",
    "CASSETTE_SUFFIX",
    "LOCK_TIMEOUT",
    "TEMPORARY_PREFIX",
    "CassetteLockError",
    "atomic_write",
    "cassette_files",
    "cassette_lock",
    "cassette_path",
    "confine",
    "legacy_cassette_path",
    "lock_path",
    "note_writer",
    "run_writer",
    "safe_name",
]

CASSETTE_SUFFIX = ".jsonl"
TEMPORARY_PREFIX = ".crewstream-tmp-"
"""Prefix of ``atomic_write``'s temporary files; one left behind means a write was killed."""

LOCK_PREFIX = ".crewstream-"
LOCK_SUFFIX = ".lock"

LOCK_TIMEOUT = 120.0
"""Seconds a process waits for a cassette's lock before it fails naming the holder."""

ALLOW_DIRS_KEY = "crewstream_allowed_cassette_dirs"
"""The ini key listing directories outside rootdir that cassettes may live in."""


def lock_path(path: Path) -> Path:
    """The lock file of cassette ``path``: ``.crewstream-<16 hex of its name's hash>.lock`` beside it."""
    digest = hashlib.sha256(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return path.with_name(f"{LOCK_PREFIX}{digest}{LOCK_SUFFIX}")


def _holder(lock: Path) -> str:
    try:
        pid = lock.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _unwritable(directory: Path) -> bool:
    return not os.access(directory, os.W_OK)


@contextlib.contextmanager
def cassette_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive lock of cassette ``path`` (its directory is created).

    Waits up to ``timeout`` seconds (``LOCK_TIMEOUT``), then raises
    ``CassetteLockError`` naming the holder's pid. In a directory this process
    cannot write, no lock is taken.
    """
    lock = lock_path(path)
    wait = LOCK_TIMEOUT if timeout is None else timeout
    # in a read-only tree no cassette can be written, so none needs a lock
    with contextlib.suppress(PermissionError):
        lock.parent.mkdir(parents=True, exist_ok=True)
    if not lock.parent.is_dir() or _unwritable(lock.parent):
        yield  # a read-only checkout: replay reads, and nothing here can be written
        return
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        with _exclusive_file(lock, wait):
            yield
        return
    fd = _flock(lock, path, wait)
    if fd is None:
        yield  # the directory refused the lock file (read-only mount, immutable): as above
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


_READ_ONLY = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _open_lock(lock: Path, cassette: Path) -> int | None:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(lock, flags, 0o644)
    except OSError as exc:
        if exc.errno in _READ_ONLY and not lock.exists():
            return None
        if exc.errno == errno.ELOOP:
            raise CassetteLockError(
                f"the lock file {str(lock)!r} of cassette {str(cassette)!r} is a symlink; "
                "crewstream never follows one. fix: delete the symlink (crewstream creates the lock itself)"
            ) from None
        raise CassetteLockError(
            f"could not create the lock file {str(lock)!r} of cassette {str(cassette)!r}: "
            f"{exc.strerror or exc}"
        ) from None


def _flock(lock: Path, cassette: Path, wait: float) -> int | None:
    import fcntl

    deadline = time.monotonic() + wait
    while True:
        fd = _open_lock(lock, cassette)
        if fd is None:
            return None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise CassetteLockError(
                            f"could not lock cassette {str(cassette)!r} within {wait:g} s: "
                            f"{_holder(lock)} holds {str(lock)!r}. fix: wait for that test run to "
                            "finish, or stop it (a killed holder releases the lock at once)"
                        ) from None
                    time.sleep(0.005)
            # The previous holder unlinks the file before it unlocks: if the
            # name now points elsewhere (or nowhere), this lock guards nothing.
            try:
                same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


@contextlib.contextmanager
def _exclusive_file(lock: Path, wait: float) -> Iterator[None]:  # pragma: no cover - Windows
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise CassetteLockError(
                    f"could not lock {lock} within {wait:g} s: {_holder(lock)} holds it, "
                    "or a killed run left it behind; delete the file if no other test run is going"
                ) from None
            time.sleep(0.01)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(lock)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_LOSSLESS = re.compile(r"[A-Za-z0-9_.\-]+(?:::[A-Za-z0-9_.\-]+)*(?:\[[A-Za-z0-9_.\-]*\])?")
"""Test names whose sanitized form keeps their information (``::`` and one ``[param]``)."""


def safe_name(name: str, limit: int = 120) -> str:
    """A filesystem-safe file name for a test name (parametrized ids included).

    When sanitizing loses information (spaces, slashes, punctuation in an id),
    the name ends with a short stable hash of ``name`` itself, so two ids that
    differ only there never share a file, whatever else is collected.
    """
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    lossy = _LOSSLESS.fullmatch(name) is None
    if lossy or len(cleaned) > limit:
        digest = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        cleaned = f"{cleaned[: limit - 11]}-{digest}"
    return cleaned


def _legacy_safe_name(name: str, limit: int = 120) -> str:
    cleaned = _UNSAFE.sub("_", name).strip("._") or "test"
    if len(cleaned) > limit:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[: limit - 11]}-{digest}"
    return cleaned


def _module_dir(test_file: Path, cassette_dir: Path | None, rootdir: Path | None) -> Path:
    if cassette_dir is None:
        return test_file.parent / "cassettes" / test_file.stem
    if rootdir is not None:
        with contextlib.suppress(ValueError):
            return cassette_dir / test_file.with_suffix("").relative_to(rootdir)
    return cassette_dir / test_file.stem


def cassette_path(
    test_file: Path,
    test_name: str,
    *,
    cassette: str | None,
    cassette_dir: Path | None,
    rootdir: Path | None = None,
) -> Path:
    """Where a test's cassette lives.

    Default: ``<test file dir>/cassettes/<test module>/<test name>.jsonl``. With
    ``crewstream_cassette_dir`` set, ``<cassette dir>/<test file's path from
    rootdir, without .py>/<test name>.jsonl`` (same-named modules in two packages
    stay apart). A marker's relative ``cassette=`` is resolved against
    ``crewstream_cassette_dir``, or ``<test file dir>/cassettes``.
    """
    if cassette:
        base = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
        path = Path(cassette)
        return path if path.is_absolute() else base / path
    directory = _module_dir(test_file, cassette_dir, rootdir)
    return directory / f"{safe_name(test_name)}{CASSETTE_SUFFIX}"


def legacy_cassette_path(
    test_file: Path,
    test_name: str,
    *,
    cassette: str | None,
    cassette_dir: Path | None,
    rootdir: Path | None = None,
) -> Path | None:
    """Where crewstream < 0.3 put this test's cassette, when that differs from ``cassette_path``."""
    if cassette:
        return None
    base = cassette_dir if cassette_dir is not None else test_file.parent / "cassettes"
    old = base / test_file.stem / f"{_legacy_safe_name(test_name)}{CASSETTE_SUFFIX}"
    new = cassette_path(
        test_file, test_name, cassette=None, cassette_dir=cassette_dir, rootdir=rootdir
    )
    return None if old == new else old


_writers: dict[str, str] = {}


def _writer_file(path: Path) -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")  # shared by the workers of one xdist run
    if not run.isalnum():
        return None
    digest = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"crewstream-run-{run}" / digest


def run_writer(path: Path) -> str | None:
    """The test id that wrote cassette ``path`` earlier in this test run (xdist workers included), if any.

    Call it, and ``note_writer``, under the cassette's lock.
    """
    where = _writer_file(path)
    if where is None:
        return _writers.get(os.path.abspath(path))
    try:
        return where.read_text(encoding="utf-8")
    except OSError:
        return None


def note_writer(path: Path, test_id: str) -> None:
    """Remember that ``test_id`` wrote cassette ``path`` in this test run."""
    where = _writer_file(path)
    if where is None:
        _writers[os.path.abspath(path)] = test_id
        return
    where.parent.mkdir(mode=0o700, exist_ok=True)
    where.write_text(test_id, encoding="utf-8")


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def confine(
    path: Path, rootdir: Path, *, allowed: Sequence[Path] = (), what: str = "cassette"
) -> Path:
    """``path`` made absolute, symlinks resolved, when it lies inside ``rootdir`` or an ``allowed`` directory.

    Anything else raises ``CrewstreamUsageError`` naming the path and the ini
    key that allows an outside directory.
    """
    resolved = Path(os.path.abspath(rootdir / path)).resolve()
    roots = [rootdir.resolve(), *(Path(os.path.abspath(rootdir / d)).resolve() for d in allowed)]
    if any(_inside(resolved, root) for root in roots):
        return resolved
    return _outside(path, resolved, roots, what)


def _outside(path: Path, resolved: Path, roots: Sequence[Path], what: str) -> Path:
    listed = "\n".join(f"  - {root}" for root in roots)
    raise CrewstreamUsageError(
        f"{what}: {str(path)!r} resolves to {str(resolved)!r}, outside the directories cassettes "
        f"may live in:\n{listed}\n  fix: use a path inside rootdir, or allow its directory in "
        f"the ini file:\n    {ALLOW_DIRS_KEY} =\n        {resolved.parent}"
    )


def _refuse_non_regular(target: Path) -> None:
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode):
        return
    kind = (
        "a symlink"
        if stat.S_ISLNK(info.st_mode)
        else "a directory"
        if stat.S_ISDIR(info.st_mode)
        else "a device file"
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
        else "a FIFO"
        if stat.S_ISFIFO(info.st_mode)
        else "a socket"
        if stat.S_ISSOCK(info.st_mode)
        else "not a regular file"
    )
    raise CrewstreamUsageError(
        f"{str(target)!r} is {kind}; crewstream replaces only regular files. "
        "fix: move it away, or point the cassette at another path"
    )


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to the regular file ``target`` through a temporary file in the same directory.

    The temporary file is flushed and fsynced, then renamed over ``target``
    (atomic on POSIX and Windows): readers see the old file or the new one.
    A ``target`` that exists and is not a regular file (a device, a FIFO, a
    directory, a symlink) is refused with ``CrewstreamUsageError``.
    """
    _refuse_non_regular(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}.part")
        try:
            # 0666 less the umask, as open() gives a new file; no umask call (it is process-wide)
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with contextlib.suppress(FileNotFoundError):
            os.fchmod(fd, os.stat(target).st_mode & 0o7777)  # a cassette keeps its mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _refuse_non_regular(target)  # swapped for a device while we wrote
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
