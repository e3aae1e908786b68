"""The contract assertions on legacy chunk streams: result gating, the stream-setting leak, snapshots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crewstream_testing.contract.chunks import check_chunks
from crewstream_testing.contract.gating import assert_result_gated, assert_result_gated_async
from crewstream_testing.contract.settings import assert_stream_restored
from crewstream_testing.errors import CrewstreamUsageError, StreamSettingsError
from crewstream_testing.snapshot import serialize_chunks

LINE = "Five words: streams of chunks are ordered."


@pytest.fixture
def crew_app(warm_crewai: None, tmp_path: Path):  # type: ignore[no-untyped-def]
    from crewstream_testing.hermetic import CrewaiIsolation
    from fixtures import crew_app

    with CrewaiIsolation(tmp_path):
        yield crew_app


def test_result_gating_holds_on_a_crew_streaming_output(crew_app) -> None:  # type: ignore[no-untyped-def]
    streaming = crew_app.make_crew().kickoff(inputs=crew_app.TOPICS[0])
    result = assert_result_gated(streaming)
    assert result.raw == LINE
    assert len(streaming.chunks) == 19
    assert check_chunks(streaming) == []


def test_an_async_output_goes_to_the_async_check(crew_app) -> None:  # type: ignore[no-untyped-def]
    async def run() -> object:
        streaming = await crew_app.make_crew().kickoff_async(inputs=crew_app.TOPICS[0])
        with pytest.raises(CrewstreamUsageError, match="assert_result_gated_async"):
            assert_result_gated(streaming)
        return await assert_result_gated_async(streaming)

    # not asyncio.run: under pytest-asyncio 1.5 it leaves an unclosed loop behind
    loop = asyncio.new_event_loop()
    try:
        assert getattr(loop.run_until_complete(run()), "raw", None) == LINE
    finally:
        loop.close()


def test_the_crew_stream_leak_is_reported_with_evidence(crew_app) -> None:  # type: ignore[no-untyped-def]
    crew = crew_app.make_crew()
    for agent in crew.agents:
        agent.llm.stream = False
    with pytest.raises(StreamSettingsError) as caught, assert_stream_restored(crew):
        for _ in crew.kickoff(inputs=crew_app.TOPICS[0]):
            pass
    lines = str(caught.value).splitlines()
    assert lines[0] == "2 stream setting(s) changed and were not restored:"
    assert "  Crew#0.tasks[0].agent.llm.stream: False -> True" in lines
    assert lines[-1] == (
        "  evidence: Crew#0.stream is True, and its kickoff ran crewai.crews.utils."
        "enable_agent_streaming, which set llm.stream = True on agent(s) 'Researcher', 'Writer' "
        "and never restores it"
    )


def test_a_snapshot_of_an_output_equals_the_snapshot_of_its_recorded_chunks(crew_app) -> None:  # type: ignore[no-untyped-def]
    from crewstream_testing.cassette import Cassette

    streaming = crew_app.make_crew().kickoff(inputs=crew_app.TOPICS[0])
    for _ in streaming:
        pass
    live = serialize_chunks(streaming)
    stored = Cassette.load(Path(crew_app.__file__).parents[1] / "cassettes" / "crew_kickoff.jsonl")
    assert live == serialize_chunks(stored.streams[0].chunks)
    assert live == serialize_chunks(streaming.chunks)
    assert live.count("\n") == 19
