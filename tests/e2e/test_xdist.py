"""pytest-xdist: 40 tests record under ``-n 2``, then replay under ``-n 2``; nothing lost or corrupt.

Four more tests share one cassette, so the two workers contend for the same
file: the lock beside it makes one write and the others compare. The hygiene
report is made by the controller from what both workers collected.
"""

from __future__ import annotations

import io

import pytest

from crewstream_testing import Cassette
from crewstream_testing.cli import main

SUITE = """
import pytest
from crewai.flow.flow import Flow, listen, start


class Tiny(Flow):
    @start()
    def begin(self):
        return "topic " + self.state["topic"]

    @listen(begin)
    def finish(self, text):
        return text + "."


def run(recorder, topic):
    with recorder.record(Tiny().stream_events(inputs={"topic": topic})) as session:
        for _ in session:
            pass
    return session.result


@pytest.mark.parametrize("n", range(40))
def test_rec(stream_recorder, n):
    assert run(stream_recorder, str(n)) == f"topic {n}."


@pytest.mark.parametrize("n", range(4))
@pytest.mark.crewstream(cassette="shared/same.jsonl")
def test_shared(stream_recorder, n):
    assert run(stream_recorder, "same") == "topic same."
"""


def test_record_then_replay_under_two_workers(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_par=SUITE)
    record = inner.runpytest("-p", "no:cacheprovider", "-n", "2", "--crewstream-record=once")
    record.assert_outcomes(passed=44)
    record.stdout.fnmatch_lines(["created: 2/2 workers*"])

    directory = inner.path / "cassettes"
    cassettes = sorted(directory.rglob("*.jsonl"))
    assert len(cassettes) == 41
    assert not [p for p in directory.rglob("*") if p.is_file() and p.suffix != ".jsonl"]
    first = {path: path.read_bytes() for path in cassettes}
    for n in range(40):
        loaded = Cassette.load(directory / "test_par" / f"test_rec_{n}.jsonl")
        assert loaded.streams[0].result == f"topic {n}."
        assert loaded.streams[0].frames[0].data["inputs"] == {"topic": str(n)}
    assert Cassette.load(directory / "shared" / "same.jsonl").streams[0].result == "topic same."

    (directory / "test_par" / "test_gone.jsonl").write_bytes(first[cassettes[0]])
    replay = inner.runpytest(
        "-p", "no:cacheprovider", "-n", "2", "--crewstream-record=none", "--crewstream-unused"
    )
    replay.assert_outcomes(passed=44)
    replay.stdout.fnmatch_lines(
        [
            "crewstream: 1 unused cassette(s), no collected test uses them:",
            "  cassettes/test_par/test_gone.jsonl",
        ]
    )
    (directory / "test_par" / "test_gone.jsonl").unlink()
    # Replay wrote nothing: every cassette is byte-identical, loads, and checks clean.
    assert {path: path.read_bytes() for path in sorted(directory.rglob("*.jsonl"))} == first
    out = io.StringIO()
    assert main(["check", str(directory)], out=out) == 0, out.getvalue()
    assert out.getvalue().splitlines()[-1] == (
        "checked 41 files, 41 streams, 287 frames: all conform to the streaming contract"
    )
