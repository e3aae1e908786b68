"""A process killed with SIGKILL while it writes a cassette leaves the old cassette or the new one.

A child process writes two large cassettes (A and B, a few MB each) in turn
to one path, as ``CassetteBinding.finish()`` does: under the lock beside the
cassette, through ``atomic_write``. It is killed at a varying moment, forty
times in a row on the same path. After each kill the file is exactly A or
exactly B (or absent, before the first write finished), and the
next child is never blocked by the lock the killed one held.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crewstream_testing import Cassette
from crewstream_testing.files import lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ITERATIONS = 40
FRAMES = 12_000

BUILD = """
from crewstream_testing.cassette import Cassette, StreamRecord
from crewstream_testing.frames import Frame


def big(tag, count):
    frames = [
        Frame(id=f"#{i}", type="llm_stream_chunk", channel="llm", seq=i, namespace=["llm", "<call:1>"],
              timestamp=i / 1000, parent_id="#0", data={"chunk": f"{tag} word {i} " * 8, "call_id": "<call:1>"})
        for i in range(count)
    ]
    return Cassette(streams=[StreamRecord(source="llm", frames=frames, result=tag)], crewai_version="1.15.30")
"""

WRITER = """
import sys
from pathlib import Path
from crewstream_testing.cassette import atomic_write
from crewstream_testing.files import cassette_lock

target = Path(sys.argv[1])
versions = [Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes()]
sys.stdout.write("ready\\n")
sys.stdout.flush()
n = 0
while True:
    with cassette_lock(target):
        atomic_write(target, versions[n % 2])
    n += 1
"""


def expected_versions() -> tuple[bytes, bytes]:
    """The two large cassettes the child writes in turn."""
    namespace: dict[str, object] = {}
    exec(compile(BUILD, "writer", "exec"), namespace)
    big = namespace["big"]
    return big("A", FRAMES).dumps(), big("B", FRAMES).dumps()  # type: ignore[operator]


def test_sigkill_mid_write_never_leaves_a_partial_cassette(tmp_path: Path) -> None:
    versions = expected_versions()
    assert all(len(v) > 2_000_000 for v in versions)
    sources = [tmp_path / "a.bin", tmp_path / "b.bin"]
    for source, data in zip(sources, versions, strict=True):
        source.write_bytes(data)
    target = tmp_path / "cassettes" / "big.jsonl"
    rng = random.Random(5)
    leftovers_seen = 0
    complete_seen = 0
    for _ in range(ITERATIONS):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), *map(str, sources)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert child.stdout is not None
        try:
            assert child.stdout.readline() == b"ready\n"
            # Let it write for a while: the kill lands anywhere in the loop.
            time.sleep(rng.uniform(0.0, 0.1))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        if target.exists():
            data = target.read_bytes()
            assert data in versions, f"partial cassette: {len(data)} bytes"
            complete_seen += 1
        parts = [p for p in target.parent.iterdir() if p.name.startswith(".crewstream-tmp-")]
        leftovers_seen += bool(parts)
        for part in parts:  # what `pytest --crewstream-prune` removes
            part.unlink()
        names = {p.name for p in target.parent.iterdir()}
        assert names <= {"big.jsonl", lock_path(target).name}, names
    # The kills hit writes in progress (their temporary files stayed) and
    # the cassette was complete after most of them.
    print(
        f"kills: {ITERATIONS}, mid-write: {leftovers_seen}, cassette complete after: {complete_seen}"
    )
    assert leftovers_seen >= 5, leftovers_seen
    assert Cassette.load(target).streams[0].result in ("A", "B")
    assert complete_seen >= ITERATIONS // 2, complete_seen
