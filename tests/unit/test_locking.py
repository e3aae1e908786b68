"""The lock beside a cassette: one holder at a time, gone when released, never stuck after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from crewstream_testing.errors import CassetteLockError, CrewstreamUsageError
from crewstream_testing.files import atomic_write, cassette_lock, lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")


def test_holders_take_turns_and_the_lock_file_goes_away(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "shared.jsonl"
    inside: list[int] = []
    overlaps: list[int] = []
    log: list[tuple[int, str]] = []

    def worker(number: int) -> None:
        for _ in range(30):
            with cassette_lock(cassette):
                inside.append(number)
                if len(inside) > 1:
                    overlaps.append(number)
                log.append((number, "in"))
                # write-or-compare happens here; give the others every chance to barge in
                cassette.write_text(str(number))
                os.sched_yield()
                assert cassette.read_text() == str(number)
                log.append((number, "out"))
                inside.remove(number)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert len(log) == 4 * 30 * 2
    assert all(
        log[i][1] == "in" and log[i + 1] == (log[i][0], "out") for i in range(0, len(log), 2)
    )
    assert not lock_path(cassette).exists()
    assert lock_path(cassette).name == ".crewstream-5f2b274135bdcf5b.lock"


def test_a_legal_253_character_name_gets_a_short_lock_and_records(tmp_path: Path) -> None:
    cassette = tmp_path / ("n" * 247 + ".jsonl")
    assert len(cassette.name) == 253 and len(lock_path(cassette).name) == 33
    with cassette_lock(cassette):
        atomic_write(cassette, b"recorded\n")
    assert cassette.read_bytes() == b"recorded\n"


def test_a_planted_symlink_lock_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    cassette = tmp_path / "c.jsonl"
    lock_path(cassette).symlink_to(victim)
    with pytest.raises(CassetteLockError) as raised, cassette_lock(cassette):
        pass
    assert str(raised.value) == (
        f"the lock file {str(lock_path(cassette))!r} of cassette {str(cassette)!r} is a symlink; "
        "crewstream never follows one. fix: delete the symlink (crewstream creates the lock itself)"
    )
    assert victim.read_text() == "keep"


def test_a_held_lock_times_out_naming_the_holders_pid(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cassette)], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == b"holding\n"
        with pytest.raises(CassetteLockError) as raised, cassette_lock(cassette, timeout=0.2):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert str(raised.value) == (
        f"could not lock cassette {str(cassette)!r} within 0.2 s: process {holder.pid} holds "
        f"{str(lock_path(cassette))!r}. fix: wait for that test run to finish, or stop it "
        "(a killed holder releases the lock at once)"
    )


def test_a_read_only_directory_is_read_without_a_lock(tmp_path: Path) -> None:
    # a read-only checkout: no lock file can be created beside the cassette (as root,
    # whom a directory's mode does not stop, the directory is made immutable)
    directory = tmp_path / "ro"
    directory.mkdir()
    cassette = directory / "c.jsonl"
    cassette.write_text("recorded")
    as_root = os.getuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
    try:
        with cassette_lock(cassette):
            assert cassette.read_text() == "recorded"
        assert sorted(p.name for p in directory.iterdir()) == ["c.jsonl"]
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


@pytest.mark.parametrize("device", ["/dev/null", "fifo"])
def test_only_regular_files_are_replaced(tmp_path: Path, device: str) -> None:
    if device == "fifo":
        target = tmp_path / "pipe.jsonl"
        os.mkfifo(target)
        kind = "a FIFO"
    else:
        target, kind = Path(device), "a device file"
    before = os.lstat(target)
    with pytest.raises(CrewstreamUsageError) as raised:
        atomic_write(target, b"x")
    assert str(raised.value) == (
        f"{str(target)!r} is {kind}; crewstream replaces only regular files. "
        "fix: move it away, or point the cassette at another path"
    )
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode, after.st_rdev) == (
        before.st_ino,
        before.st_mode,
        before.st_rdev,
    )


def test_atomic_write_never_changes_the_umask(tmp_path: Path) -> None:
    # another thread reading the umask while writes run must always see the process's own
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(_umask_from_proc())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for n in range(300):
            atomic_write(tmp_path / f"c{n % 3}.jsonl", b"x")
    finally:
        stop.set()
        watcher.join()
    assert seen == {_umask_from_proc()}
    mode = (tmp_path / "c0.jsonl").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask_from_proc()


def _umask_from_proc() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    pytest.skip("no /proc/self/status Umask line")


HOLDER = """
import sys, time
from pathlib import Path
from crewstream_testing.files import cassette_lock
with cassette_lock(Path(sys.argv[1])):
    print("holding", flush=True)
    while True:
        time.sleep(1)
"""


def test_a_killed_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cassette)], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline() == b"holding\n"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    assert lock_path(cassette).exists()  # left behind by the killed process
    with cassette_lock(cassette):  # the kernel released its flock: taken at once
        cassette.write_text("next run")
    assert not lock_path(cassette).exists()
    assert cassette.read_text() == "next run"
