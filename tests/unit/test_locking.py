"""The lock beside a cassette: one holder at a time, gone when released, never stuck after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from crewstream_testing.files import cassette_lock, lock_path

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
    assert lock_path(cassette).name == ".shared.jsonl.lock"


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
