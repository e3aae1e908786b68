"""Legacy chunk streams end to end: Crew(stream=True) outputs recorded, replayed and diverging (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crewstream_testing.cassette import Cassette
from crewstream_testing.contract.chunks import check_chunks

pytest_plugins = ["pytester"]

APP = '''
import asyncio

from fixtures.crew_app import TOPICS, make_crew

LINE = "{line}"


def test_kickoff(stream_recorder):
    streaming = stream_recorder.record(make_crew(line=LINE).kickoff(inputs=TOPICS[0]))
    text = "".join(chunk.content for chunk in streaming)
    assert streaming.result.raw == LINE
    assert text.endswith(LINE)


def test_kickoff_async(stream_recorder):
    async def run():
        streaming = stream_recorder.record(await make_crew(line=LINE).kickoff_async(inputs=TOPICS[0]))
        return [chunk async for chunk in streaming], streaming

    chunks, streaming = asyncio.run(run())
    assert streaming.result.raw == LINE
    assert chunks[0].chunk_type.value == "tool_call"


def test_akickoff(stream_recorder):
    async def run():
        streaming = stream_recorder.record(await make_crew(line=LINE).akickoff(inputs=TOPICS[0]))
        async for _ in streaming:
            pass
        return streaming.result

    assert asyncio.run(run()).raw == LINE


def test_kickoff_for_each(stream_recorder):
    outputs = make_crew(line=LINE).kickoff_for_each(TOPICS)
    raws = []
    for streaming in outputs:
        for _ in stream_recorder.record(streaming):
            pass
        raws.append(streaming.result.raw)
    assert raws == [LINE, LINE]


def test_kickoff_for_each_async(stream_recorder):
    async def run():
        merged = await make_crew(line=LINE).kickoff_for_each_async(TOPICS)
        async for _ in merged:
            pass
        return merged.results

    assert [result.raw for result in asyncio.run(run())] == [LINE, LINE]


def answer(topic):
    """App code: it makes and consumes its own streaming crew, nothing passed to record()."""
    streaming = make_crew(line=LINE).kickoff(inputs={{"topic": topic}})
    return "".join(chunk.content for chunk in streaming), streaming.result.raw


def test_created_in_app(stream_recorder):
    text, raw = answer("apps")
    assert raw == LINE and text.endswith(LINE)
    assert len(stream_recorder.chunk_outputs) == 1
'''

NAMES = (
    "test_kickoff",
    "test_kickoff_async",
    "test_akickoff",
    "test_kickoff_for_each",
    "test_kickoff_for_each_async",
    "test_created_in_app",
)
SOURCES = {
    "test_kickoff": ["crew"],
    "test_kickoff_async": ["crew_async"],
    "test_akickoff": ["crew_async"],
    "test_kickoff_for_each": ["crew", "crew"],
    "test_kickoff_for_each_async": ["crew_async"],
    "test_created_in_app": ["crew"],
}


def cassette(pytester: pytest.Pytester, name: str) -> Path:
    return pytester.path / "cassettes" / "test_app" / f"{name}.jsonl"


@pytest.fixture
def project(inner: pytest.Pytester) -> pytest.Pytester:
    inner.makepyfile(test_app=APP.format(line="Five words: streams of chunks are ordered."))
    return inner


def test_record_then_replay_every_entry_point_then_first_divergent_chunk(
    project: pytest.Pytester,
) -> None:
    first = project.runpytest("-p", "no:cacheprovider", "--crewstream-record=once")
    first.assert_outcomes(passed=len(NAMES))
    recorded = {name: cassette(project, name).read_bytes() for name in NAMES}
    for name in NAMES:
        loaded = Cassette.load(cassette(project, name))
        assert [stream.source for stream in loaded.streams] == SOURCES[name], name
        for stream in loaded.streams:
            assert stream.outcome == "result", name
            assert stream.chunks[0]["chunk_type"] == "tool_call", name
            assert stream.chunks[0]["tool_call"]["tool_name"] == "word_count", name
            assert check_chunks(stream.chunks, result=stream.result) == [], name
    # the merged output: both inputs' chunks, grouped by input
    merged = Cassette.load(cassette(project, "test_kickoff_for_each_async")).streams[0]
    assert {chunk.get("input") for chunk in merged.chunks} == {0, 1}
    assert [result["raw"] for result in merged.result] == [
        "Five words: streams of chunks are ordered."
    ] * 2

    replay = project.runpytest("-p", "no:cacheprovider")
    replay.assert_outcomes(passed=len(NAMES))
    assert {name: cassette(project, name).read_bytes() for name in NAMES} == recorded

    project.makepyfile(test_app=APP.format(line="Six words: streams of chunks are ordered."))
    diverged = project.runpytest("-p", "no:cacheprovider", "test_app.py::test_kickoff")
    diverged.assert_outcomes(failed=1)
    diverged.stdout.fnmatch_lines(
        [
            "crewstream: the recorded streams differ from cassette */cassettes/test_app/test_kickoff.jsonl (record mode 'once')",
            "stream 0 (crew): first divergent chunk 12 (task 0, agent 'Writer', text):",
            "  content: 'Five' -> 'Six'",
            "  to accept the new recording: pytest --crewstream-record=all test_app.py::test_kickoff  # from the rootdir",
        ]
    )
    assert cassette(project, "test_kickoff").read_bytes() == recorded["test_kickoff"]


def test_a_crew_created_in_app_code_is_recorded_without_record(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", "-k", "created_in_app")
    result.assert_outcomes(passed=1, deselected=len(NAMES) - 1)
    lines = cassette(project, "test_created_in_app").read_bytes().splitlines()
    assert lines[1] == b'{"kind":"stream","name":null,"source":"crew","stream":0}'
    chunks = [line for line in lines if line.startswith(b'{"agent_id"')]
    assert len(chunks) == 19
    assert b'"tool_id":"call_apps"' in chunks[0]


SNAPSHOT_APP = """
from fixtures.crew_app import TOPICS, make_crew


def test_snapshot(crewstream_snapshot):
    streaming = make_crew(line="{line}").kickoff(inputs=TOPICS[0])
    for _ in streaming:
        pass
    assert crewstream_snapshot == streaming
"""


def test_crewstream_snapshot_stores_a_streaming_output_as_chunk_lines(
    inner: pytest.Pytester,
) -> None:
    inner.makepyfile(test_snap=SNAPSHOT_APP.format(line="Five words."))
    inner.runpytest("-p", "no:cacheprovider", "--snapshot-update").assert_outcomes(passed=1)
    (stored,) = (inner.path / "__snapshots__").rglob("*.jsonl")
    lines = stored.read_text().splitlines()
    assert len(lines) == 14  # 7 tool-call fragments, 5 words of the researcher, 2 of the writer
    assert lines[-1].startswith('{"agent_id":"<agent:2>","agent_role":"Writer","chunk_type":"text"')
    assert '"content":" words."' in lines[-1]
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    inner.makepyfile(test_snap=SNAPSHOT_APP.format(line="Six words."))
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
