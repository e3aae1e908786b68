"""No vacuous pass: a crewstream test that checked nothing fails, saying what happened and how to allow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from crewstream_testing.cassette import Cassette

pytest_plugins = ["pytester"]

FLOW = """
from pathlib import Path

import pytest
from crewai.flow import Flow, listen, start


class TwoSteps(Flow):
    @start()
    def first(self):
        return "one"

    @listen(first)
    def second(self, value):
        return value + " two"
"""


def run(pytester: pytest.Pytester, body: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_app=FLOW + body)
    return pytester.runpytest("-p", "no:cacheprovider", "--crewstream-record=once", *args)


def test_no_stream_and_no_llm_call_fails(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
@pytest.mark.crewstream
def test_nothing():
    assert TwoSteps is not None
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: test_app.py::test_nothing recorded nothing: no crewai stream session was created "
            "and no LLM call was made, so there is nothing to compare.",
            "  if the test opens its stream elsewhere, make sure that code runs inside the test;",
            "  if recording nothing is intended: @pytest.mark.crewstream(allow_empty=True)",
        ]
    )
    assert not (inner.path / "cassettes").exists()


def test_allow_empty_passes_and_writes_nothing(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
@pytest.mark.crewstream(allow_empty=True)
def test_nothing(stream_recorder):
    assert stream_recorder.sessions == []
""",
    )
    result.assert_outcomes(passed=1)
    assert not (inner.path / "cassettes").exists()


def test_a_stream_closed_before_its_first_frame_has_zero_frames(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
def test_closed(stream_recorder):
    session = TwoSteps().stream_events()
    session.close()
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: test_app.py::test_closed: stream 0 (StreamSession) has 0 frames: "
            "it was closed or failed before any frame arrived.",
            "  iterate it (for frame in session / async for frame in session) before closing it",
        ]
    )


def test_a_stream_never_consumed_is_incomplete(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
@pytest.mark.crewstream
def test_forgotten():
    TwoSteps().stream_events()
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: test_app.py::test_forgotten: stream 0 (StreamSession) ended incomplete after 0 frame(s): "
            "it was neither consumed to the end nor closed (a `for ... break` without close(), or never iterated).",
            "  consume it to the end, or close it (`with session:` / session.close() / await session.aclose());",
            "  if leaving it unfinished is intended: @pytest.mark.crewstream(allow_incomplete=True)",
        ]
    )


ABANDONED = """
@pytest.mark.crewstream{options}
def test_abandoned():
    for frame in TwoSteps().stream_events():
        if frame.type == "method_execution_started":
            break
"""


def test_an_abandoned_stream_fails_and_leaves_no_crash_at_exit(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_app=FLOW + ABANDONED.format(options=""))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--crewstream-record=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "crewstream: test_app.py::test_abandoned: stream 0 (StreamSession) ended incomplete after * frame(s)*"
        ]
    )
    stderr = result.stderr.str()
    assert "cannot schedule new futures" not in stderr
    assert "Traceback" not in stderr
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_allow_incomplete_records_the_frames_seen(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_app=FLOW + ABANDONED.format(options="(allow_incomplete=True)"))
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "--crewstream-record=once")
    result.assert_outcomes(passed=1)
    assert "Traceback" not in result.stderr.str()
    assert "cannot schedule new futures" not in result.stderr.str()
    cassette = Cassette.load(inner.path / "cassettes" / "test_app" / "test_abandoned.jsonl")
    (stream,) = cassette.streams
    assert stream.outcome == "incomplete"
    assert [f.type for f in stream.frames][-1] == "method_execution_started"


def test_an_abandoned_async_stream_is_closed_on_its_loop(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_app=FLOW
        + """
@pytest.mark.asyncio
@pytest.mark.crewstream(allow_incomplete=True)
async def test_abandoned_async(stream_recorder):
    session = TwoSteps().astream()
    async for frame in session:
        if frame.type == "method_execution_started":
            break


def test_after(stream_recorder):
    # teardown closed the abandoned session on its loop before the loop was closed
    assert stream_recorder.sessions == []
    with TwoSteps().stream_events() as session:
        assert [f.type for f in session][-1] == "flow_finished"
"""
    )
    result = inner.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--crewstream-record=once",
        "-W",
        "error::pytest.PytestUnraisableExceptionWarning",
        "-W",
        "error::ResourceWarning",
    )
    result.assert_outcomes(passed=2)
    output = result.stdout.str() + result.stderr.str()
    for sign in ("Traceback", "never awaited", "ResourceWarning", "Event loop is closed"):
        assert sign not in output


def test_a_stream_closed_after_some_frames_is_recorded_as_closed(inner: pytest.Pytester) -> None:
    result = run(
        inner,
        """
def test_closed_early(stream_recorder):
    with TwoSteps().stream_events() as session:
        for frame in session:
            if frame.type == "method_execution_finished":
                break
""",
    )
    result.assert_outcomes(passed=1)
    cassette = Cassette.load(inner.path / "cassettes" / "test_app" / "test_closed_early.jsonl")
    (stream,) = cassette.streams
    assert stream.outcome == "closed"
    assert [f.type for f in stream.frames][-1] == "method_execution_finished"


def test_check_warns_about_zero_frame_and_incomplete_streams(tmp_path: Path) -> None:
    import io

    import orjson

    from crewstream_testing.cli import main

    bundled = Path(__file__).resolve().parents[2] / "cassettes" / "llm_stream.jsonl"
    lines = [orjson.loads(line) for line in bundled.read_bytes().splitlines()]
    header, opened, end = lines[0], lines[1], next(r for r in lines if r["kind"] == "end")
    frames = [r for r in lines if r["kind"] == "frame"][:3]

    def write(name: str, records: list[dict[str, object]]) -> Path:
        path = tmp_path / name
        path.write_bytes(
            b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in records)
        )
        return path

    empty = write("empty.jsonl", [header, opened, {**end, "outcome": "closed", "result": None}])
    abandoned = write(
        "abandoned.jsonl",
        [header, opened, *frames, {**end, "outcome": "incomplete", "result": None}],
    )
    out = io.StringIO()
    assert main(["check", str(empty), str(abandoned)], out=out) == 3
    report = out.getvalue().splitlines()
    assert f"{abandoned}  WARNING 1 stream, 3 frames" in report
    assert (
        "    stream 0 (llm): ended incomplete after 3 frames: abandoned, neither consumed to the end nor closed"
        in report
    )
    assert f"{empty}      WARNING 1 stream, 0 frames" in report
    assert (
        "    stream 0 (llm): 0 frames (ended: closed): nothing of the stream was recorded" in report
    )
    assert (
        report[-1]
        == "checked 2 files, 2 streams, 3 frames: 2 warnings (0 frames or abandoned streams)"
    )
    assert main(["check", str(bundled)], out=io.StringIO()) == 0
