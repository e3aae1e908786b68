"""The Recorder on real crewai sessions: consumers see exactly what they would without it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crewstream_testing import Cassette, Recorder, normalize
from crewstream_testing.errors import CrewstreamUsageError

pytestmark = pytest.mark.usefixtures("crewstream_hermetic")


def consume(session: Any) -> tuple[list[Any], Any]:
    frames = list(session.events)
    return frames, session.result


def llm_session() -> Any:
    from fixtures.report_flow import writer_llm

    return writer_llm().stream_events("Outline a report on frames.")


def flow_session() -> Any:
    from fixtures.report_flow import ReportFlow

    return ReportFlow().stream_events()


def kickoff_session() -> Any:
    from fixtures.report_flow import ReportFlow

    flow = ReportFlow()
    flow.stream = True
    return flow.kickoff()


def agent_session() -> Any:
    from fixtures.agent_flow import ResearchFlow

    return ResearchFlow().stream_events()


SOURCES: dict[str, Callable[[], Any]] = {
    "llm": llm_session,
    "flow": flow_session,
    "kickoff": kickoff_session,
    "agent": agent_session,
}


def reset_counter() -> None:
    from crewai.events.base_events import reset_emission_counter

    reset_emission_counter()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_consumer_sees_identical_frames_with_and_without_recorder(name: str) -> None:
    reset_counter()
    plain_frames, plain_result = consume(SOURCES[name]())
    reset_counter()
    recorder = Recorder()
    session = SOURCES[name]()
    recorded = recorder.record(session, source="kickoff" if name == "kickoff" else None)
    assert recorded is session
    seen_frames, seen_result = consume(recorded)
    assert seen_result == plain_result
    assert normalize(seen_frames, timestamps="zero") == normalize(plain_frames, timestamps="zero")
    assert recorder.frames == normalize(seen_frames, timestamps="zero")
    expected_source = {"agent": "flow"}.get(name, name)
    assert [s.source for s in recorder.streams] == [expected_source]
    assert recorder.streams[0].outcome == "result"


def test_astream_is_recorded_and_async_with_works() -> None:
    from fixtures.report_flow import ReportFlow

    recorder = Recorder()

    async def run() -> tuple[list[Any], Any]:
        async with recorder.record(ReportFlow().astream()) as stream:
            frames = [frame async for frame in stream.events]
        return frames, stream.result

    frames, result = asyncio.run(run())
    assert result.startswith("Frames arrive in order")
    (stream,) = recorder.streams
    assert stream.source == "astream"
    assert [f.type for f in stream.frames] == [f.type for f in frames]
    assert stream.frames[-1].type == "flow_finished"


def test_two_turns_share_placeholders_across_streams() -> None:
    from fixtures.chat_flow import SESSION_ID, TURNS, make_chat_flow

    flow = make_chat_flow()
    recorder = Recorder()
    replies = []
    for turn in TURNS:
        with recorder.record(flow.stream_turn(turn, session_id=SESSION_ID)) as stream:
            for _ in stream.events:
                pass
        replies.append(stream.result)
    assert replies == [
        "I can explain CrewAI stream frames.",
        "Each frame has a channel such as llm or flow.",
    ]
    first, second = recorder.streams
    assert (first.source, second.source) == ("turn", "turn")
    flow_started = next(f for f in first.frames if f.type == "flow_started")
    # in turn 2 the flow-level frames hang under turn 1's flow_started
    assert second.frames[1].parent_id == flow_started.id


def test_projection_consumer_still_records_every_frame() -> None:
    recorder = Recorder()
    with recorder.record(flow_session()) as stream:
        chunks = [frame.content for frame in stream.llm]
    assert "".join(chunks).startswith("1. frames 2. channels")
    types = [f.type for f in recorder.frames]
    assert types[0] == "flow_started" and types[-1] == "flow_finished"
    assert {f.channel for f in recorder.frames} >= {"flow", "llm", "custom"}


def test_result_gating_is_untouched() -> None:
    recorder = Recorder()
    stream = recorder.record(flow_session())
    with pytest.raises(RuntimeError, match="Streaming has not completed yet"):
        stream.result
    for _ in stream:
        pass
    assert stream.result.startswith("Frames arrive in order")


def test_error_mid_stream_is_reraised_and_recorded() -> None:
    from fixtures.failing_flow import FailingFlow

    recorder = Recorder()
    stream = recorder.record(FailingFlow().stream_events())
    seen = []
    with pytest.raises(RuntimeError, match="provider went away"):
        for frame in stream:
            seen.append(frame.type)
    with pytest.raises(RuntimeError, match="provider went away"):
        stream.result
    (record,) = recorder.streams
    assert record.outcome == "error"
    assert record.error == {"type": "RuntimeError", "message": "provider went away"}
    assert [f.type for f in record.frames][-3:] == [
        "llm_call_failed",
        "method_execution_failed",
        "flow_failed",
    ]
    assert [f.type for f in record.frames] == seen


def test_closed_before_iteration_is_recorded_as_closed() -> None:
    recorder = Recorder()
    stream = recorder.record(flow_session())
    stream.close()
    with pytest.raises(RuntimeError, match="No result available"):
        stream.result
    (record,) = recorder.streams
    assert (record.outcome, record.frames) == ("closed", [])


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    recorder = Recorder(clock="virtual")
    with recorder, recorder.record(flow_session()) as stream:
        list(stream)
    path = recorder.save(tmp_path / "flow.jsonl")
    loaded = Cassette.load(path)
    assert loaded.frames == recorder.frames
    assert loaded.clock == "virtual"
    assert (
        loaded.streams[0].result
        == "Frames arrive in order; channels route them; results wait for the end."
    )
    assert {f.timestamp for f in loaded.frames} == {0.0}


def test_record_refuses_what_is_not_a_session() -> None:
    with pytest.raises(
        CrewstreamUsageError, match=r"record\(\) takes a crewai StreamSession .* not list"
    ):
        Recorder().record([1, 2, 3])


def test_the_cassette_is_built_once_until_something_new_is_recorded(tmp_path: Path) -> None:
    recorder = Recorder()
    consume(recorder.record(llm_session()))
    built = recorder.cassette()
    assert recorder.cassette() is built
    assert recorder.frames == built.frames and recorder.streams is built.streams
    consume(recorder.record(flow_session()))
    again = recorder.cassette()
    assert again is not built
    assert [stream.source for stream in again.streams] == ["llm", "flow"]
    # what is written is the bytes encoded once, equal to encoding the view afresh
    path = recorder.save(tmp_path / "two.jsonl")
    fresh = Cassette(
        streams=again.streams,
        llm_calls=again.llm_calls,
        crewai_version=again.crewai_version,
        clock=again.clock,
    )
    assert path.read_bytes() == fresh.dumps()
    assert Cassette.load(path).stream_lines() == again.stream_lines()


def test_sessions_match_the_session_protocols() -> None:
    from crewstream_testing.frames import is_async_stream_session, is_stream_session

    session = llm_session()
    consume(session)
    assert is_stream_session(session) and not is_async_stream_session(session)
    assert not is_stream_session([1, 2]) and not is_stream_session(Recorder())

    from fixtures.report_flow import ReportFlow

    async def run() -> bool:
        stream = ReportFlow().astream()
        async with stream:
            async for _ in stream:
                pass
        return is_async_stream_session(stream) and not is_stream_session(stream)

    assert asyncio.run(run())
